"""Style control as Chatbot Arena does it: Bradley-Terry on every battle with extra covariates that describe
the two responses' style, so that a model's coefficient is its strength *at equal style*.

    logit P(a beats b) = theta_a - theta_b + sum_f gamma_f z_f,    z_f = standardized (s_f(a) - s_f(b)) / (s_f(a) + s_f(b))

with s_f a style count of each response: ``length`` (words), ``headers`` (markdown # lines), ``lists``
(list items), ``bold`` (**...** spans). Ties count as y = 1/2. The controlled ratings are the thetas on the
usual scale (mean 1000); the style coefficients and sandwich intervals come along in ``extra["style"]``.

>>> battles = [{"model_a": "short", "model_b": "long", "winner": w, "response_a": "ok", "response_b": b}
...            for w, b in [("model_b", "a much longer answer"), ("model_a", "ok then"), ("model_b", "ok so yes"),
...                         ("model_a", "a long wordy reply here")]]
>>> r = style_controlled(battles, interval="none")
>>> round(r.table["short"]["rating"], 1), round(r.extra["style"]["length"]["coef"], 3)   # longer wins: coef > 0
(1000.2, 0.408)
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from .intervals import normal_interval, z_value
from .logistic import fit_logistic, logistic_information
from .pairs import battle_arrays, pair_counts_from_codes
from .ranks import arena_ranks
from .ratings import SCALE, Ratings, ratings_from_theta
from .store import Battle, battle_from_record

__all__ = ["STYLE_FEATURES", "style_controlled", "style_counts"]

STYLE_FEATURES = {
    "length": lambda text: len(text.split()),
    "headers": lambda text: len(re.findall(r"^#{1,6} ", text, flags=re.M)),
    "lists": lambda text: len(re.findall(r"^\s*(?:[-*+]|\d+\.) ", text, flags=re.M)),
    "bold": lambda text: len(re.findall(r"\*\*[^*\n]+\*\*|__[^_\n]+__", text)),
}


def style_counts(text: str, features: Sequence[str]) -> list:
    """The style counts of one response, in ``features`` order."""
    return [STYLE_FEATURES[f](text) for f in features]


def style_controlled(battles, features: Sequence[str] = ("length",), interval: str = "sandwich",
                     level: float = 0.95) -> Ratings:
    """Style-controlled Bradley-Terry ratings (method ``"bt+style"``); ``interval`` sandwich, hessian or none."""
    unknown = [f for f in features if f not in STYLE_FEATURES]
    if unknown:
        raise ValueError(f"unknown style features {unknown}; choose from {', '.join(STYLE_FEATURES)}")
    if interval not in ("sandwich", "hessian", "none"):
        raise ValueError(f"style control supports interval sandwich, hessian or none, got {interval!r}")
    objs = [b.validate() if isinstance(b, Battle) else battle_from_record(b) for b in battles]
    a, b, codes = battle_arrays(objs)
    models = sorted(set(a) | set(b))
    index = {m: i for i, m in enumerate(models)}
    n, m = len(models), len(objs)
    X = np.zeros((m, n + len(features)))
    rows = np.arange(m)
    ai, bi = np.array([index[x] for x in a]), np.array([index[x] for x in b])
    X[rows, ai] = 1.0
    X[rows, bi] = -1.0
    sa = np.array([style_counts(o.response_a, features) for o in objs], dtype=float).reshape(m, -1)
    sb = np.array([style_counts(o.response_b, features) for o in objs], dtype=float).reshape(m, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sa + sb > 0, (sa - sb) / np.where(sa + sb > 0, sa + sb, 1), 0.0)
    sd = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    X[:, n:] = z
    y = np.array([1.0, 0.0, 0.5, 0.5])[codes]
    beta = fit_logistic(X, y, gauge=n)
    rating = ratings_from_theta(beta[:n])
    style = {f: {"coef": float(beta[n + j])} for j, f in enumerate(features)}
    if interval == "none":
        lower, upper = rating.copy(), rating.copy()
    else:
        H, B = logistic_information(X, y, beta)
        H = H + np.pad(np.full((n, n), 1.0 / n), ((0, len(features)), (0, len(features))))
        Hp = np.linalg.inv(H)
        cov_full = Hp @ B @ Hp if interval == "sandwich" else Hp
        C = np.eye(n) - 1.0 / n
        cov = C @ cov_full[:n, :n] @ C
        lower, upper = normal_interval(rating, SCALE * np.sqrt(np.clip(np.diag(cov), 0, None)), level)
        zq = z_value(level)
        for j, f in enumerate(features):
            se = float(np.sqrt(max(cov_full[n + j, n + j], 0.0)))
            style[f].update(lower=style[f]["coef"] - zq * se, upper=style[f]["coef"] + zq * se)
    counts = pair_counts_from_codes(ai, bi, codes, models)
    return Ratings("bt+style", interval, level, models, rating, np.asarray(lower), np.asarray(upper),
                   arena_ranks(lower, upper), counts.battles, counts, {"style": style})
