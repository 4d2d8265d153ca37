"""``rate``: ratings of models from pairwise battles, by Bradley-Terry, Davidson or online Elo, with intervals
and Chatbot-Arena ranks, on one scale:

    P(a beats b) = 1 / (1 + 10^((R_b - R_a) / 400)),    mean rating 1000

(R = 1000 + 400/ln 10 * theta for the strengths theta of :mod:`~preflab.arena.bradley_terry` and
:mod:`~preflab.arena.davidson`; for Davidson the probability is that of a decisive battle). Intervals:
``sandwich`` (robust, the default), ``hessian`` (inverse observed information), ``bootstrap`` (``rounds``
resamples, seeded, percentile) or ``none``; Elo supports ``bootstrap`` and ``none`` only, and depends on the
battles' order.

>>> battles = [{"model_a": "a", "model_b": "b", "winner": w} for w in ["model_a"] * 3 + ["model_b"]]
>>> r = rate(battles, method="bt", interval="none")
>>> {m: round(v["rating"], 3) for m, v in r.table.items()}
{'a': 1095.424, 'b': 904.576}
>>> round(1 / (1 + 10 ** ((r.table["b"]["rating"] - r.table["a"]["rating"]) / 400)), 6)
0.75
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from .bradley_terry import bt_information, fit_bt
from .davidson import davidson_information, fit_davidson
from .elo import elo_from_indices
from .choices import INTERVALS, METHODS
from .intervals import centred_cov, normal_interval, percentile_interval, resample_counts
from .pairs import PairCounts, battle_arrays, model_indices, pair_counts_from_codes
from .ranks import arena_ranks

__all__ = ["METHODS", "INTERVALS", "SCALE", "Ratings", "rate", "rate_codes", "ratings_from_theta"]

SCALE = 400.0 / np.log(10.0)            # rating points per unit of log-odds
INITIAL = 1000.0


@dataclasses.dataclass
class Ratings:
    """The result of :func:`rate`: arrays in ``models`` order, and ``table`` / ``as_json`` views."""

    method: str
    interval: str
    level: float
    models: list
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank: np.ndarray
    battles: np.ndarray
    counts: PairCounts
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def table(self) -> dict:
        """model -> {"rating", "lower", "upper", "rank", "battles"}, best rating first."""
        order = np.argsort(-self.rating, kind="stable")
        return {self.models[i]: {"rating": float(self.rating[i]), "lower": float(self.lower[i]),
                                 "upper": float(self.upper[i]), "rank": int(self.rank[i]),
                                 "battles": int(self.battles[i])} for i in order}

    def as_json(self) -> dict:
        return {"method": self.method, "interval": self.interval, "level": self.level,
                "scale": "P(a beats b) = 1/(1+10^((R_b-R_a)/400)); mean rating 1000",
                "battles": int(round(self.counts.games.sum() / 2)), "ratings": self.table, **self.extra}


def ratings_from_theta(theta) -> np.ndarray:
    """Centred log-odds strengths -> ratings with mean 1000."""
    theta = np.asarray(theta, dtype=float)
    return INITIAL + SCALE * (theta - theta.mean())


def _check(method: str, interval: str):
    if method not in METHODS:
        raise ValueError(f"unknown rating method {method!r}; choose one of {', '.join(METHODS)}")
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; choose one of {', '.join(INTERVALS)}")
    if method == "elo" and interval in ("sandwich", "hessian"):
        raise ValueError(f"online Elo has no likelihood, so no {interval} interval; use interval='bootstrap' "
                         f"(or 'none'), or method='bt'")


def rate_codes(a_idx, b_idx, codes, models: Sequence[str], method: str = "bt", interval: str = "sandwich",
               level: float = 0.95, rounds: int = 200, seed: int = 0, prior: float = 0.0, k: float = 4.0) -> Ratings:
    """:func:`rate` on integer arrays: model indices of both sides [N] and outcome codes [N] (0 model_a,
    1 model_b, 2 tie, 3 tie (bothbad))."""
    _check(method, interval)
    models = list(models)
    n = len(models)
    counts = pair_counts_from_codes(a_idx, b_idx, codes, models)
    if n < 2:
        raise ValueError(f"rating needs at least two models, got {models}")
    extra: dict = {}
    rng = np.random.default_rng(seed)
    if method == "elo":
        a_idx, b_idx, codes = (np.asarray(x) for x in (a_idx, b_idx, codes))
        rating = elo_from_indices(a_idx, b_idx, codes, n, k=k, initial=INITIAL)
        extra["k"] = k
        if interval == "bootstrap":
            m = len(codes)
            samples = np.stack([elo_from_indices(a_idx, b_idx, codes, n, k=k, initial=INITIAL,
                                                 order=rng.integers(0, m, m)) for _ in range(rounds)])
            lower, upper = percentile_interval(samples, level)
        else:
            lower, upper = rating.copy(), rating.copy()
    else:
        nu = 0.0
        if method == "bt":
            theta = fit_bt(counts, prior=prior)
        else:
            theta, nu = fit_davidson(counts, prior=prior)
            extra["nu"] = nu
        rating = ratings_from_theta(theta)
        if interval in ("sandwich", "hessian"):
            if nu > 0:
                H, B = davidson_information(counts, theta, nu, prior)
            else:
                H, B = bt_information(counts, theta, prior)
            cov = centred_cov(H, B if interval == "sandwich" else None, n)
            sd = SCALE * np.sqrt(np.clip(np.diag(cov), 0.0, None))
            lower, upper = normal_interval(rating, sd, level)
        elif interval == "bootstrap":
            samples, dropped = [], 0
            for _ in range(rounds):
                rep = resample_counts(counts, rng)
                if prior == 0 and rep.not_identified():
                    dropped += 1
                    continue
                if method == "bt":
                    th = fit_bt(rep, prior=prior, theta0=theta, check=False)
                else:
                    th, _ = fit_davidson(rep, prior=prior, check=False,
                                         start=np.append(theta, np.log(nu)) if nu > 0 else None)
                samples.append(ratings_from_theta(th))
            if not samples:
                raise ValueError(f"no bootstrap resample of these {int(counts.games.sum() / 2)} battles has "
                                 f"maximum-likelihood ratings; pass a prior (--prior 1) or use the sandwich")
            lower, upper = percentile_interval(np.stack(samples), level)
            extra.update(rounds=rounds, seed=seed, dropped_rounds=dropped)
        else:
            lower, upper = rating.copy(), rating.copy()
    if prior:
        extra["prior"] = prior
    return Ratings(method, interval, level, models, rating, np.asarray(lower), np.asarray(upper),
                   arena_ranks(lower, upper), counts.battles, counts, extra)


def rate(battles, method: str = "bt", interval: str = "sandwich", level: float = 0.95, rounds: int = 200,
         seed: int = 0, prior: float = 0.0, k: float = 4.0, models: Optional[Sequence[str]] = None) -> Ratings:
    """Ratings of the models in ``battles`` (:class:`~preflab.arena.store.Battle` objects or FastChat-style
    dicts with model_a, model_b, winner). ``method``: bt, davidson or elo (``k`` its step); ``interval``:
    sandwich, hessian, bootstrap (``rounds``, ``seed``) or none, at ``level``; ``prior`` > 0 adds an L2
    penalty prior/2 |theta|^2 (needed when a model never lost or never won)."""
    _check(method, interval)
    a, b, codes = battle_arrays(battles)
    if not codes.size:
        raise ValueError("no battles to rate")
    names, ai, bi = model_indices(a, b, models)
    return rate_codes(ai, bi, codes, names, method=method,
                      interval=interval, level=level, rounds=rounds, seed=seed, prior=prior, k=k)
