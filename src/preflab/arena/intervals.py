"""Confidence intervals of ratings: the sandwich (robust) estimator, the inverse Hessian, and the bootstrap.

For an M-estimator theta_hat maximizing sum_k log L_k(theta), with H = -sum_k d2 log L_k (the Hessian) and
B = sum_k s_k s_k^T (s_k the k-th battle's score), the sandwich covariance is H^+ B H^+ (Huber; White): it
stays valid when the model is misspecified, and equals H^+ when it is right (then E[B] = H). The ratings'
free shift is removed by centring (C = I - 11^T/n), and intervals are estimate +- z_{(1+level)/2} sd on the
rating scale. The bootstrap resamples the battles with replacement (seeded): multinomial counts over the
(pair, outcome) cells, the same distribution as drawing N battles; the interval is the percentile one.

>>> H = np.array([[2.0, -2.0], [-2.0, 2.0]])         # two models, information 2 on their difference
>>> cov = centred_cov(H, H, n=2)
>>> cov.round(6).tolist()                              # var(theta_a - theta_b) = 1/2 -> var(theta_a) = 1/8
[[0.125, -0.125], [-0.125, 0.125]]
>>> percentile_interval(np.arange(101.0)[:, None], 0.9)
(array([5.]), array([95.]))
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.stats import norm

from .pairs import PairCounts

__all__ = ["centred_cov", "normal_interval", "percentile_interval", "resample_counts", "z_value"]


def z_value(level: float) -> float:
    """The two-sided normal quantile of a ``level`` interval (1.959964 for 0.95)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level} (0.95 gives a 95% interval)")
    return float(norm.ppf(0.5 + level / 2))


def centred_cov(H: np.ndarray, B: Optional[np.ndarray], n: int) -> np.ndarray:
    """[n, n] covariance of the centred first ``n`` parameters: C H^+ B H^+ C (sandwich) or, with ``B`` None,
    C H^+ C (inverse Hessian); H^+ is H's inverse when a prior makes H regular. ``H`` and ``B`` may carry extra parameters after the first n (Davidson's eta)."""
    H = np.asarray(H, dtype=float)
    v = np.zeros(H.shape[0])
    v[:n] = 1.0 / np.sqrt(n)                         # the free shift of the ratings
    scale = np.trace(H) / H.shape[0]
    if np.abs(H @ v).max() <= 1e-9 * scale:
        # H is singular along the shift: invert H + scale v v^T, which equals H^+ + v v^T / scale and whose
        # extra term the centring removes; stabler than pinv's eigenvalue cut-off at a million battles
        H = H + scale * np.outer(v, v)
    Hp = np.linalg.inv(H)
    cov = Hp if B is None else Hp @ B @ Hp
    cov = cov[:n, :n]
    C = np.eye(n) - 1.0 / n
    return C @ cov @ C


def normal_interval(estimate, sd, level: float) -> tuple[np.ndarray, np.ndarray]:
    """``(estimate - z sd, estimate + z sd)``."""
    z = z_value(level)
    return np.asarray(estimate) - z * np.asarray(sd), np.asarray(estimate) + z * np.asarray(sd)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``samples`` [rounds, n]: the (1-level)/2 and (1+level)/2 quantiles."""
    z_value(level)
    q = np.quantile(np.asarray(samples, dtype=float), [(1 - level) / 2, (1 + level) / 2], axis=0)
    return q[0], q[1]


def resample_counts(counts: PairCounts, rng: np.random.Generator) -> PairCounts:
    """A bootstrap replicate: as many battles as observed, drawn with replacement, aggregated by pair."""
    n = counts.n
    iu = np.triu_indices(n, 1)
    cells = np.concatenate([counts.wins.ravel(), counts.ties[iu]])
    total = int(round(cells.sum()))
    draw = rng.multinomial(total, cells / cells.sum()).astype(float)
    wins = draw[: n * n].reshape(n, n)
    ties = np.zeros((n, n))
    ties[iu] = draw[n * n:]
    ties = ties + ties.T
    games = wins + wins.T + ties
    return PairCounts(counts.models, wins, ties, games.sum(axis=1).astype(np.int64))
