"""Checks on what goes into and comes out of an oracle, with errors that say which argument or item is wrong."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .errors import OracleError

__all__ = ["check_texts", "check_pairs", "check_rng", "as_probabilities", "as_rewards", "normalize_weights",
           "check_temperature"]


def check_texts(who: str, **lists) -> int:
    """The common length of the named lists of strings, or a TypeError/ValueError naming the bad one."""
    n = None
    for arg, values in lists.items():
        if isinstance(values, str):
            raise TypeError(f"{who}: {arg} must be a list of strings, got one string; wrap a single item as [{arg}]")
        if not isinstance(values, Sequence):
            raise TypeError(f"{who}: {arg} must be a list of strings, got {type(values).__name__}")
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise TypeError(f"{who}: {arg}[{i}] must be a string, got {type(v).__name__}")
        if n is None:
            n = len(values)
        elif len(values) != n:
            lens = ", ".join(f"{k}={len(v)}" for k, v in lists.items())
            raise ValueError(f"{who}: {', '.join(lists)} must have the same length, got {lens}")
    return n or 0


def check_pairs(who: str, prompts, first, second) -> int:
    return check_texts(who, prompts=prompts, first=first, second=second)


def check_rng(who: str, rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{who}: rng must be a numpy Generator, got {type(rng).__name__}; "
                        "pass np.random.default_rng(seed)")
    return rng


def _as_vector(who: str, what: str, values, n: int) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise OracleError(f"{who} returned {what} that are not numbers ({e}); it must return {n} floats") from e
    if arr.shape != (n,):
        arr_shape = arr.shape
        if arr.size == n:  # [n, 1] and the like
            arr = arr.reshape(n)
        else:
            raise OracleError(f"{who} returned {what} of shape {arr_shape} for {n} items; it must return [{n}]")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise OracleError(f"{who} returned {what}[{i}] = {arr[i]} for item {i}; it must be finite", item=i)
    return arr


def as_probabilities(who: str, values, n: int) -> np.ndarray:
    """float64 [n] in [0, 1], or an OracleError naming the first bad item."""
    p = _as_vector(who, "probabilities", values, n)
    bad = (p < 0.0) | (p > 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise OracleError(f"{who} returned probability {p[i]:.6g} for item {i}; P(first preferred) must lie "
                          "in [0, 1] (a reward or a logit needs RewardOracle or CallableOracle(score_fn=...))",
                          item=i)
    return p


def as_rewards(who: str, values, n: int) -> np.ndarray:
    """float64 [n] finite rewards, or an OracleError naming the first bad item."""
    return _as_vector(who, "rewards", values, n)


def normalize_weights(who: str, weights: Optional[Sequence[float]], n: int) -> np.ndarray:
    """Non-negative weights summing to 1 (uniform when None); a ValueError says what is wrong."""
    if n < 1:
        raise ValueError(f"{who}: needs at least one component, got none")
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"{who}: weights must have one entry per component ({n}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError(f"{who}: weights must be finite and non-negative, got {w.tolist()}")
    total = w.sum()
    if total <= 0:
        raise ValueError(f"{who}: weights must not all be zero, got {w.tolist()}")
    return w / total


def check_temperature(who: str, temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t < 0:
        raise ValueError(f"{who}: temperature must be a finite number >= 0 (0 gives hard labels), got {temperature!r}")
    return t
