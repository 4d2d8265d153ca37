"""Bradley-Terry ratings by maximum likelihood, on pair counts, with ties as half a win each way (FastChat).

    P(i beats j) = sigmoid(theta_i - theta_j),
    -log L(theta) = - sum_{i<j} [ s_ij log sigmoid(theta_i - theta_j) + s_ji log sigmoid(theta_j - theta_i) ]
                    + prior/2 |theta|^2,      s_ij = wins_ij + ties_ij / 2.

The optimum solves the score equations sum_j n_ij sigmoid(theta_i - theta_j) = sum_j s_ij (expected wins =
observed wins, per model). scipy's ``trust-exact`` minimizes it with the exact gradient and Hessian (the
weighted graph Laplacian of the pairs), on the likelihood divided by the number of battles plus
``(mean theta)^2 / 2``, which pins the free shift without moving the optimum, then Newton steps on the
gradient alone (:mod:`~preflab.arena.newton`) to rounding level; theta is returned centred.
:func:`bt_information` gives the Hessian H and the "meat" B = sum over battles of score outer products that
the sandwich interval needs (:mod:`preflab.arena.intervals`).

>>> from preflab.arena.pairs import pair_counts
>>> c = pair_counts([{"model_a": "a", "model_b": "b", "winner": w} for w in ["model_a"] * 3 + ["model_b"]])
>>> theta = fit_bt(c)
>>> round(float(theta[0] - theta[1]), 6), round(float(np.log(3)), 6)      # 3 wins to 1: odds 3
(1.098612, 1.098612)
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from .newton import newton_polish
from .pairs import PairCounts

__all__ = ["fit_bt", "bt_information", "bt_scores"]


def bt_scores(counts: PairCounts) -> np.ndarray:
    """[n, n] s_ij = wins_ij + ties_ij / 2: the wins of row over column, ties counted half."""
    return counts.wins + 0.5 * counts.ties


def _objective(theta, S, N, prior, total):
    D = theta[:, None] - theta[None, :]
    P = expit(D)
    nll = -np.sum(S * log_expit(D))
    grad = (N * P - S).sum(axis=1) + prior * theta      # d(-log L)/d theta_i
    gauge = theta.mean()
    n = theta.size
    f = (nll + 0.5 * prior * theta @ theta) / total + 0.5 * gauge ** 2
    g = grad / total + gauge / n
    return f, g


def _hessian(theta, S, N, prior, total):
    P = expit(theta[:, None] - theta[None, :])
    Hm = N * P * (1 - P)
    H = np.diag(Hm.sum(axis=1)) - Hm + prior * np.eye(theta.size)
    n = theta.size
    return H / total + np.full((n, n), 1.0 / n ** 2)


def fit_bt(counts: PairCounts, prior: float = 0.0, gtol: float = 1e-13, theta0=None, check: bool = True) -> np.ndarray:
    """Centred maximum-likelihood (``prior`` > 0: maximum a posteriori) strengths theta [n], natural-log
    odds units. Raises ``ValueError`` when the maximum-likelihood ratings do not exist (``check``)."""
    if prior < 0:
        raise ValueError(f"prior must be >= 0, got {prior}")
    if check and prior == 0 and (why := counts.not_identified()):
        raise ValueError(why)
    S = bt_scores(counts)
    N = counts.games
    total = max(float(N.sum()) / 2, 1.0)
    x0 = np.zeros(counts.n) if theta0 is None else np.asarray(theta0, dtype=float)
    res = minimize(_objective, x0, args=(S, N, prior, total), jac=True, hess=_hessian, method="trust-exact",
                   options={"gtol": gtol, "maxiter": 200})
    x = newton_polish(lambda th: _objective(th, S, N, prior, total)[1], lambda th: _hessian(th, S, N, prior, total),
                      res.x)
    theta = x - x.mean()
    return theta


def bt_information(counts: PairCounts, theta: np.ndarray, prior: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(H, B)``, both [n, n]: H the Hessian of -log L (plus prior) at theta, B = sum over battles of the
    outer product of each battle's score (x (y - p), x = e_a - e_b, y in {1, 1/2, 0})."""
    P = expit(theta[:, None] - theta[None, :])
    N = counts.games
    Hm = N * P * (1 - P)
    H = np.diag(Hm.sum(axis=1)) - Hm + prior * np.eye(theta.size)
    M = counts.wins * (1 - P) ** 2 + counts.wins.T * P ** 2 + counts.ties * (0.5 - P) ** 2
    np.fill_diagonal(M, 0.0)
    B = np.diag(M.sum(axis=1)) - M
    return H, B
