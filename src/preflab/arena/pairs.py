"""Battles aggregated by pair: who beat whom how often, so that a million battles cost what an n x n matrix costs.

``wins[i, j]`` counts decisive wins of model i over model j, ``ties[i, j]`` (symmetric) the ties of the pair,
``tie (bothbad)`` included (FastChat counts both as ties). Outcome codes of the array path: 0 model_a won,
1 model_b won, 2 tie, 3 tie (bothbad) (the index of :data:`~preflab.arena.store.WINNERS`).

>>> c = pair_counts([{"model_a": "x", "model_b": "y", "winner": "model_a"},
...                  {"model_a": "y", "model_b": "x", "winner": "tie"},
...                  {"model_a": "y", "model_b": "z", "winner": "model_b"}])
>>> c.models, c.wins.tolist(), c.ties.tolist(), c.battles.tolist()
(['x', 'y', 'z'], [[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [2, 3, 1])
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .store import WINNERS, Battle, battle_from_record

__all__ = ["PairCounts", "pair_counts", "pair_counts_from_codes", "battle_arrays", "model_indices"]


@dataclasses.dataclass
class PairCounts:
    """``models`` [n] names; ``wins`` [n, n] decisive wins of row over column; ``ties`` [n, n] symmetric;
    ``battles`` [n] battles each model played."""

    models: list
    wins: np.ndarray
    ties: np.ndarray
    battles: np.ndarray

    @property
    def n(self) -> int:
        return len(self.models)

    @property
    def games(self) -> np.ndarray:
        """[n, n] battles of each pair (symmetric)."""
        return self.wins + self.wins.T + self.ties

    def not_identified(self) -> Optional[str]:
        """None when the maximum-likelihood ratings exist and are unique (the directed graph 'i won or tied
        against j' is strongly connected); otherwise a sentence saying which models break it."""
        beat = (self.wins + self.ties) > 0
        k, labels = connected_components(csr_matrix(beat), directed=True, connection="strong")
        if k <= 1:
            return None
        groups = [[m for m, g in zip(self.models, labels) if g == c] for c in range(k)]
        never_lost = [m for i, m in enumerate(self.models) if (self.wins[:, i] + self.ties[i]).sum() == 0]
        never_won = [m for i, m in enumerate(self.models) if (self.wins[i] + self.ties[i]).sum() == 0]
        detail = (f"never lost or tied: {', '.join(never_lost)}" if never_lost else
                  f"never won or tied: {', '.join(never_won)}" if never_won else
                  "groups that never beat each other both ways: " + " | ".join(", ".join(g) for g in groups[:4]))
        return f"the maximum-likelihood ratings do not exist ({detail}); add battles or pass a prior (--prior 1)"


def battle_arrays(battles) -> tuple[list, list, np.ndarray]:
    """``(model_a names, model_b names, outcome codes)`` from :class:`Battle` objects or FastChat-style dicts,
    each validated; a bad one raises ``ValueError`` naming its position."""
    a, b, codes = [], [], []
    code_of = {w: k for k, w in enumerate(WINNERS)}
    for k, battle in enumerate(battles):
        try:
            battle = battle.validate() if isinstance(battle, Battle) else battle_from_record(battle)
        except (ValueError, TypeError) as err:
            raise ValueError(f"battle {k}: {err}") from None
        a.append(battle.model_a)
        b.append(battle.model_b)
        codes.append(code_of[battle.winner])
    return a, b, np.asarray(codes, dtype=np.int64)


def pair_counts_from_codes(a_idx, b_idx, codes, models: Sequence[str]) -> PairCounts:
    """The array path: integer model indices of both sides [N] and outcome codes [N] (0..3)."""
    n = len(models)
    a_idx, b_idx, codes = (np.asarray(x, dtype=np.int64) for x in (a_idx, b_idx, codes))
    if np.any(a_idx == b_idx):
        raise ValueError(f"battle {int(np.flatnonzero(a_idx == b_idx)[0])}: model_a and model_b are the same")
    if codes.size and (codes.min() < 0 or codes.max() > 3):
        raise ValueError("outcome codes must be 0 (model_a), 1 (model_b), 2 (tie) or 3 (tie (bothbad))")
    win_a = codes == 0
    win_b = codes == 1
    tie = codes >= 2
    nn = n * n
    wins = (np.bincount(a_idx[win_a] * n + b_idx[win_a], minlength=nn)
            + np.bincount(b_idx[win_b] * n + a_idx[win_b], minlength=nn)).reshape(n, n).astype(float)
    ties = np.bincount(a_idx[tie] * n + b_idx[tie], minlength=nn).reshape(n, n).astype(float)
    ties = ties + ties.T
    battles = np.bincount(a_idx, minlength=n) + np.bincount(b_idx, minlength=n)
    return PairCounts(list(models), wins, ties, battles)


def model_indices(model_a: Sequence[str], model_b: Sequence[str],
                  models: Optional[Sequence[str]] = None) -> tuple[list, np.ndarray, np.ndarray]:
    """``(models, a_idx, b_idx)``: the names (default sorted) and integer indices of both sides [N]; a name
    missing from ``models`` is a ValueError."""
    names = sorted(set(model_a) | set(model_b)) if models is None else list(models)
    index = {m: i for i, m in enumerate(names)}
    try:
        a = np.fromiter(map(index.__getitem__, model_a), dtype=np.int64, count=len(model_a))
        b = np.fromiter(map(index.__getitem__, model_b), dtype=np.int64, count=len(model_b))
    except KeyError as err:
        raise ValueError(f"model {err.args[0]!r} appears in battles but not in models={names}") from None
    return names, a, b


def pair_counts(battles, models: Optional[Sequence[str]] = None) -> PairCounts:
    """Aggregate battles (:class:`Battle` objects or FastChat-style dicts) by pair; ``models`` fixes the order
    (default sorted names)."""
    a, b, codes = battle_arrays(battles)
    names, ai, bi = model_indices(a, b, models)
    return pair_counts_from_codes(ai, bi, codes, names)
