"""Davidson's model of ties (1970): a tie parameter nu > 0 next to the strengths pi_i = exp(theta_i).

    P(i beats j) = pi_i / (pi_i + pi_j + nu sqrt(pi_i pi_j)),    P(tie) = nu sqrt(pi_i pi_j) / (same),

so with d = theta_i - theta_j and D = 2 cosh(d/2) + nu: P(i) = e^{d/2}/D, P(j) = e^{-d/2}/D, P(tie) = nu/D,
and P(i beats j | not a tie) = sigmoid(d): theta sits on the Bradley-Terry scale. ``tie`` and
``tie (bothbad)`` are both ties. Fitted by scipy ``trust-exact`` with the exact gradient and Hessian over
(theta, eta = log nu), with the same centring term as :mod:`preflab.arena.bradley_terry`.

>>> from preflab.arena.pairs import pair_counts
>>> c = pair_counts([{"model_a": "a", "model_b": "b", "winner": w}
...                  for w in ["model_a"] * 4 + ["model_b"] + ["tie"] * 2])
>>> theta, nu = fit_davidson(c)
>>> round(float(theta[0] - theta[1]), 6), round(float(np.log(4)), 6)     # decisive odds 4:1
(1.386294, 1.386294)
>>> round(nu, 6), round(2 / 7 * (2 * 1.25) / (1 - 2 / 7), 6)     # P(tie) = nu / (2 cosh(d/2) + nu) = 2/7
(1.0, 1.0)
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from .newton import newton_polish
from .pairs import PairCounts

__all__ = ["fit_davidson", "davidson_information"]


def _terms(theta, eta):
    d = theta[:, None] - theta[None, :]
    ch, sh = np.cosh(d / 2), np.sinh(d / 2)
    nu = np.exp(eta)
    D = 2 * ch + nu
    return d, ch, sh, nu, D


def _loglik_parts(params, W, T, N):
    theta, eta = params[:-1], params[-1]
    d, ch, sh, nu, D = _terms(theta, eta)
    off = ~np.eye(theta.size, dtype=bool)
    # ordered-pair sum: wins counted once each way, ties counted twice with weight 1/2
    ll = np.sum(W * (d / 2)) + 0.5 * np.sum(T) * eta - 0.5 * np.sum((N * np.log(D))[off])
    G = (W - W.T) / 2 - N * sh / D                         # d ll_pair / d d_ij (antisymmetric)
    g_theta = G.sum(axis=1)
    g_eta = 0.5 * np.sum((T - N * nu / D)[off])
    h = N * (ch * D / 2 - sh ** 2) / D ** 2                # -d2 ll / d d^2 (symmetric)
    c = -N * sh * nu / D ** 2                              # -d2 ll / d d d eta (antisymmetric)
    h_eta = 0.5 * np.sum((N * nu * (D - nu) / D ** 2)[off])
    return ll, g_theta, g_eta, h, c, h_eta


def _hessian_of_nll(params, W, T, N, prior):
    _, _, _, h, c, h_eta = _loglik_parts(params, W, T, N)
    n = params.size - 1
    np.fill_diagonal(h, 0.0)
    np.fill_diagonal(c, 0.0)
    H = np.zeros((n + 1, n + 1))
    H[:n, :n] = np.diag(h.sum(axis=1)) - h + prior * np.eye(n)
    H[:n, n] = H[n, :n] = c.sum(axis=1)
    H[n, n] = h_eta
    return H


def fit_davidson(counts: PairCounts, prior: float = 0.0, gtol: float = 1e-13, start=None,
                 check: bool = True) -> tuple[np.ndarray, float]:
    """``(theta [n] centred, nu)`` by maximum likelihood (``prior``: an L2 penalty on theta). Without any tie
    nu's estimate is 0 and theta is the Bradley-Terry fit."""
    if check and prior == 0 and (why := counts.not_identified()):
        raise ValueError(why)
    W, T, N = counts.wins, counts.ties, counts.games
    n = counts.n
    total = max(float(N.sum()) / 2, 1.0)
    if T.sum() == 0:
        from .bradley_terry import fit_bt
        return fit_bt(counts, prior=prior, gtol=gtol, check=False), 0.0

    def f(params):
        ll, g_theta, g_eta, *_ = _loglik_parts(params, W, T, N)
        theta = params[:-1]
        m = theta.mean()
        val = (-ll + 0.5 * prior * theta @ theta) / total + 0.5 * m ** 2
        grad = np.append((-g_theta + prior * theta) / total + m / n, -g_eta / total)
        return val, grad

    def hess(params):
        H = _hessian_of_nll(params, W, T, N, prior) / total
        H[:n, :n] += 1.0 / n ** 2
        return H

    x0 = np.zeros(n + 1) if start is None else np.asarray(start, dtype=float)
    res = minimize(f, x0, jac=True, hess=hess, method="trust-exact", options={"gtol": gtol, "maxiter": 200})
    x = newton_polish(lambda v: f(v)[1], hess, res.x)
    theta = x[:-1] - x[:-1].mean()
    return theta, float(np.exp(x[-1]))


def davidson_information(counts: PairCounts, theta, nu: float, prior: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(H, B)`` over (theta [n], eta = log nu), both [n+1, n+1]: the Hessian of -log L and the sum over
    battles of score outer products (for the sandwich interval)."""
    theta = np.asarray(theta, dtype=float)
    eta = np.log(nu)
    params = np.append(theta, eta)
    H = _hessian_of_nll(params, counts.wins, counts.ties, counts.games, prior)
    _, _, sh, nu, D = _terms(theta, eta)
    W, T = counts.wins, counts.ties
    n = theta.size
    # per-battle scores in (d from row's view, eta): row won, column won, tie
    s_win, s_loss, s_tie = 0.5 - sh / D, -0.5 - sh / D, -sh / D
    e_dec, e_tie = -nu / D, 1 - nu / D
    m = W * s_win ** 2 + W.T * s_loss ** 2 + T * s_tie ** 2
    q = W * s_win * e_dec + W.T * s_loss * e_dec + T * s_tie * e_tie
    r = W * e_dec ** 2 + T / 2 * e_tie ** 2                # row-won pairs counted once each way below
    np.fill_diagonal(m, 0.0)
    np.fill_diagonal(q, 0.0)
    np.fill_diagonal(r, 0.0)
    B = np.zeros((n + 1, n + 1))
    B[:n, :n] = np.diag(m.sum(axis=1)) - m
    B[:n, n] = B[n, :n] = q.sum(axis=1)
    B[n, n] = r.sum()
    return H, B
