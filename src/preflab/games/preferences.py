"""Preference models over N responses: the matrix ``P[i, j] = Pr(response i is preferred to response j)``.

Every constructor returns a float64 array with ``P + P.T == 1`` and a diagonal of 1/2 (a constant-sum
game), and :func:`check_preference` says exactly which entry breaks a rule when a matrix comes from
elsewhere.

>>> P = cyclic(3)                       # rock-paper-scissors: 0 beats 1, 1 beats 2, 2 beats 0
>>> [float(P[0, 1]), float(P[1, 2]), float(P[2, 0]), float(P[1, 0])]
[1.0, 1.0, 1.0, 0.0]
>>> P = bradley_terry([0.0, 1.0, 2.0])  # transitive: sigma(r_i - r_j)
>>> round(float(P[2, 0]), 4)
0.8808
>>> is_transitive(P), is_transitive(cyclic(5))
(True, False)
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from scipy.special import expit

ATOL = 1e-9

__all__ = ["check_preference", "check_policy", "random_preference", "bradley_terry", "cyclic", "mixture",
           "annotator_preferences", "condorcet_mixture", "condorcet_annotators", "empirical", "is_transitive",
           "make_preference", "PREFERENCES"]


def check_preference(P, name: str = "P") -> np.ndarray:
    """P as a float64 [N, N] array, or a ValueError naming the first entry that breaks a rule:
    square, N >= 2, finite, entries in [0, 1], diagonal 1/2, P[i, j] + P[j, i] = 1 (to 1e-9)."""
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != P.shape[1]:
        raise ValueError(f"{name} must be a square [N, N] matrix, got shape {P.shape}")
    if P.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 responses, got {P.shape[0]}")
    if not np.all(np.isfinite(P)):
        i, j = np.argwhere(~np.isfinite(P))[0]
        raise ValueError(f"{name}[{i}, {j}] = {P[i, j]} is not finite")
    bad = (P < -ATOL) | (P > 1 + ATOL)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{name}[{i}, {j}] = {P[i, j]:.6g} is a probability and must lie in [0, 1]")
    diag = np.abs(np.diag(P) - 0.5) > ATOL
    if diag.any():
        i = int(np.argmax(diag))
        raise ValueError(f"{name}[{i}, {i}] = {P[i, i]:.6g}: a response ties with itself, the diagonal must be 1/2")
    sym = np.abs(P + P.T - 1.0) > ATOL
    if sym.any():
        i, j = np.argwhere(sym)[0]
        raise ValueError(f"{name}[{i}, {j}] + {name}[{j}, {i}] = {P[i, j] + P[j, i]:.6g}, must be 1 "
                         "(one of the two is always preferred)")
    return np.clip(P, 0.0, 1.0)


def check_policy(pi, n: int, name: str = "policy") -> np.ndarray:
    """A distribution over n responses as a float64 vector, or a ValueError saying what is wrong."""
    pi = np.asarray(pi, dtype=np.float64)
    if pi.shape != (n,):
        raise ValueError(f"{name} must be a vector of {n} probabilities, got shape {pi.shape}")
    if not np.all(np.isfinite(pi)):
        raise ValueError(f"{name} has a non-finite entry at index {int(np.argmax(~np.isfinite(pi)))}")
    if np.any(pi < -ATOL):
        i = int(np.argmin(pi))
        raise ValueError(f"{name}[{i}] = {pi[i]:.6g} is negative")
    if abs(pi.sum() - 1.0) > 1e-8:
        raise ValueError(f"{name} sums to {pi.sum():.10g}, not 1")
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def random_preference(n: int, seed=0) -> np.ndarray:
    """A random constant-sum game: P[i, j] ~ U(0, 1) above the diagonal, 1 - P[j, i] below (EGPO's
    `simulations/` draw)."""
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    upper = np.triu(_rng(seed).uniform(size=(n, n)), 1)
    return upper + np.tril(1.0 - upper.T, -1) + 0.5 * np.eye(n)


def bradley_terry(rewards: Sequence[float], temperature: float = 1.0) -> np.ndarray:
    """The transitive game of a Bradley-Terry model: ``P[i, j] = sigmoid((r_i - r_j) / temperature)``."""
    r = np.asarray(rewards, dtype=np.float64)
    if r.ndim != 1 or r.size < 2 or not np.all(np.isfinite(r)):
        raise ValueError("rewards must be a finite vector of at least 2 numbers")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return expit((r[:, None] - r[None, :]) / temperature)


def cyclic(n: int, strength: float = 1.0) -> np.ndarray:
    """The rock-paper-scissors family: i beats the (n-1)//2 responses after it (mod n) with probability
    ``(1 + strength) / 2``; with n even the response opposite i ties. Every response beats as many as beat
    it, so the uniform policy is the maximal lottery, and no reward model can represent P."""
    if n < 3:
        raise ValueError(f"a cyclic game needs n >= 3, got {n}")
    if not 0 < strength <= 1:
        raise ValueError(f"strength must lie in (0, 1], got {strength}")
    d = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n        # how far j is after i
    sign = np.where((d >= 1) & (2 * d < n), 1.0, np.where(2 * d > n, -1.0, 0.0))
    return 0.5 + 0.5 * strength * sign


def mixture(utilities, weights: Optional[Sequence[float]] = None, temperature: float = 1.0) -> np.ndarray:
    """Annotator populations: population k has utilities ``u_k`` (a row of ``utilities``, [K, N]) and
    Bradley-Terry preferences at ``temperature``; the aggregate ``sum_k w_k sigmoid((u_ki - u_kj) / T)`` can be
    intransitive even though each population is transitive (Condorcet's paradox). ``temperature=0`` gives
    each population hard preferences (1, 0, or 1/2 on ties)."""
    U = np.asarray(utilities, dtype=np.float64)
    if U.ndim != 2 or U.shape[1] < 2:
        raise ValueError(f"utilities must be [populations, responses] with >= 2 responses, got shape {U.shape}")
    w = np.full(U.shape[0], 1.0 / U.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (U.shape[0],) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {U.shape[0]} non-negative numbers with a positive sum")
    w = w / w.sum()
    return np.einsum("k,kij->ij", w, annotator_preferences(U, temperature))


def annotator_preferences(utilities, temperature: float = 1.0) -> np.ndarray:
    """The preference matrix of each annotator population, stacked [K, N, N]: population k is Bradley-Terry on
    its utilities ``u_k`` (a row of ``utilities``) at ``temperature`` (0: hard preferences, 1/2 on ties).
    :func:`mixture` is their weighted mean; the general-sum game of HT-MNPO
    (:mod:`preflab.games.general_sum`) gives each player one of them.

    >>> Ps = annotator_preferences([[0.0, 1.0], [1.0, 0.0]])
    >>> Ps.shape, round(float(Ps[0, 1, 0]), 4), round(float(Ps[1, 1, 0]), 4)
    ((2, 2, 2), 0.7311, 0.2689)
    """
    U = np.asarray(utilities, dtype=np.float64)
    if U.ndim != 2 or U.shape[1] < 2:
        raise ValueError(f"utilities must be [populations, responses] with >= 2 responses, got shape {U.shape}")
    if not np.all(np.isfinite(U)):
        raise ValueError("utilities must be finite")
    diff = U[:, :, None] - U[:, None, :]
    if temperature == 0:
        return 0.5 + 0.5 * np.sign(diff)
    if temperature > 0:
        return expit(diff / temperature)
    raise ValueError(f"temperature must be >= 0, got {temperature}")


def _condorcet_utilities(n: int, populations: int, seed) -> np.ndarray:
    if populations < 2:
        raise ValueError("a mixture needs at least 2 populations")
    rng = _rng(seed)
    base = np.arange(n, dtype=np.float64)
    return np.stack([np.roll(base, k * max(1, n // populations)) + 0.3 * rng.standard_normal(n)
                     for k in range(populations)])


def condorcet_mixture(n: int, populations: int = 3, temperature: float = 0.1, seed=0) -> np.ndarray:
    """A random mixture whose aggregate is intransitive: each population ranks the responses by a random
    utility, plus a cyclic shift of one shared order (the Condorcet construction), equal weights."""
    return mixture(_condorcet_utilities(n, populations, seed), temperature=temperature)


def condorcet_annotators(n: int, populations: int = 3, temperature: float = 0.1, seed=0) -> np.ndarray:
    """The populations of :func:`condorcet_mixture` (same arguments, same draws) one by one, [populations, N, N]:
    their mean is the mixture. One preference matrix per annotator type, for the general-sum game."""
    return annotator_preferences(_condorcet_utilities(n, populations, seed), temperature)


def empirical(wins, prior: float = 0.5) -> np.ndarray:
    """P from counted comparisons: ``wins[i, j]`` = times i was preferred to j (ties counted half to each).
    ``P[i, j] = (wins[i, j] + prior) / (wins[i, j] + wins[j, i] + 2 prior)``; pairs never compared get 1/2."""
    W = np.asarray(wins, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1] or W.shape[0] < 2:
        raise ValueError(f"wins must be a square [N, N] count matrix, got shape {W.shape}")
    if np.any(W < 0) or not np.all(np.isfinite(W)):
        raise ValueError("wins must be finite non-negative counts")
    if prior < 0:
        raise ValueError(f"prior must be >= 0, got {prior}")
    total = W + W.T + 2 * prior
    with np.errstate(invalid="ignore", divide="ignore"):
        P = np.where(total > 0, (W + prior) / np.where(total > 0, total, 1.0), 0.5)
    np.fill_diagonal(P, 0.5)
    return P


def is_transitive(P, atol: float = 1e-12) -> bool:
    """True when no three responses form a strict cycle (i > j > k > i, each strictly above 1/2)."""
    P = check_preference(P)
    win = P > 0.5 + atol
    return not bool(np.any((win.astype(np.int64) @ win.astype(np.int64)) * win.T))


PREFERENCES = {
    "random": lambda n, seed=0, **kw: random_preference(n, seed),
    "bt": lambda n, seed=0, **kw: bradley_terry(_rng(seed).standard_normal(n)),
    "cyclic": lambda n, seed=0, strength=1.0, **kw: cyclic(n, strength),
    "mixture": lambda n, seed=0, **kw: condorcet_mixture(n, seed=seed),
}


def make_preference(kind: str, n: int, seed=0, **kw) -> np.ndarray:
    """One of the named families (``random``, ``bt``, ``cyclic``, ``mixture``) by name, for the CLI."""
    if kind not in PREFERENCES:
        raise ValueError(f"unknown preference model '{kind}'; choose from {sorted(PREFERENCES)}")
    return PREFERENCES[kind](n, seed=seed, **kw)
