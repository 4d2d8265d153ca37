"""Logistic regression with fractional targets (a tie is y = 1/2), weights, an optional ridge and a centring
gauge over the first columns: the per-battle Bradley-Terry fit behind style and length control.

    -log L(beta) = - sum_k w_k [ y_k log sigmoid(x_k beta) + (1 - y_k) log sigmoid(-x_k beta) ] + ridge/2 |beta_r|^2

with ``beta_r`` the ``ridged`` coefficients. Model columns ``x = e_a - e_b`` leave a free shift, fixed by the
term (mean of the first ``gauge`` coefficients)^2 / 2, which does not move the optimum. scipy's
``trust-exact`` with the exact gradient and Hessian X^T diag(w p (1 - p)) X.

>>> X = np.array([[1.0], [1.0], [1.0], [1.0]]); y = np.array([1.0, 1.0, 1.0, 0.0])
>>> round(float(fit_logistic(X, y)[0]), 6), round(float(np.log(3)), 6)
(1.098612, 1.098612)
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from .newton import newton_polish

__all__ = ["fit_logistic", "logistic_information"]


def fit_logistic(X, y, w=None, gauge: int = 0, ridge: float = 0.0, ridged: Optional[np.ndarray] = None,
                 gtol: float = 1e-12) -> np.ndarray:
    """Coefficients [p] of the weighted logistic regression of y in [0, 1] on X [m, p]."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    p = X.shape[1]
    r = np.zeros(p) if ridged is None else np.asarray(ridged, dtype=float)
    total = max(float(w.sum()), 1.0)
    g = np.zeros(p)
    g[:gauge] = 1.0 / gauge if gauge else 0.0

    def f(beta):
        z = X @ beta
        nll = -np.sum(w * (y * log_expit(z) + (1 - y) * log_expit(-z))) + 0.5 * ridge * np.sum(r * beta ** 2)
        grad = X.T @ (w * (expit(z) - y)) + ridge * r * beta
        m = g @ beta
        return nll / total + 0.5 * m ** 2, grad / total + m * g

    def hess(beta):
        q = expit(X @ beta)
        H = (X.T * (w * q * (1 - q))) @ X + ridge * np.diag(r)
        return H / total + np.outer(g, g)

    res = minimize(f, np.zeros(p), jac=True, hess=hess, method="trust-exact", options={"gtol": gtol, "maxiter": 500})
    beta = newton_polish(lambda v: f(v)[1], hess, res.x)
    if gauge:
        beta[:gauge] -= beta[:gauge].mean()
    return beta


def logistic_information(X, y, beta, w=None, ridge: float = 0.0, ridged=None) -> tuple[np.ndarray, np.ndarray]:
    """``(H, B)``: the Hessian of -log L at beta and the sum of per-row score outer products (weights count
    rows: a row of weight w is w identical battles)."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    r = np.zeros(X.shape[1]) if ridged is None else np.asarray(ridged, dtype=float)
    q = expit(X @ beta)
    H = (X.T * (w * q * (1 - q))) @ X + ridge * np.diag(r)
    B = (X.T * (w * (y - q) ** 2)) @ X
    return H, B
