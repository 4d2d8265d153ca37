"""Online Elo, as FastChat's ``compute_online_elo``: every model starts at 1000 and each battle moves both.

    E_a = 1 / (1 + 10^((R_b - R_a) / 400)),   R_a += K (S_a - E_a),   R_b += K ((1 - S_a) - (1 - E_a)),

with S_a = 1, 0 or 1/2 (a tie or both bad), K = 4 by default. The result depends on the battles' ORDER
(the same battles shuffled give other ratings), unlike Bradley-Terry; its intervals come from the bootstrap
only. The updates are zero-sum, so the mean rating stays 1000.

>>> ratings, models = online_elo(["a", "a"], ["b", "c"], np.array([0, 2]), k=4)
>>> models, [round(r, 6) for r in ratings]
(['a', 'b', 'c'], [1002.0, 998.0, 1000.0])
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["online_elo", "elo_from_indices", "SCORE_OF_CODE"]

SCORE_OF_CODE = np.array([1.0, 0.0, 0.5, 0.5])      # S_a by outcome code (model_a, model_b, tie, tie (bothbad))


def elo_from_indices(a_idx, b_idx, codes, n: int, k: float = 4.0, initial: float = 1000.0,
                     order: Optional[np.ndarray] = None) -> np.ndarray:
    """Elo ratings [n] after the battles in ``order`` (default as given), from integer indices."""
    r = np.full(n, float(initial))
    s = SCORE_OF_CODE[np.asarray(codes)]
    a_idx, b_idx = np.asarray(a_idx), np.asarray(b_idx)
    seq = range(len(s)) if order is None else order
    for t in seq:
        i, j = a_idx[t], b_idx[t]
        e = 1.0 / (1.0 + 10.0 ** ((r[j] - r[i]) / 400.0))
        delta = k * (s[t] - e)
        r[i] += delta
        r[j] -= delta
    return r


def online_elo(model_a: Sequence[str], model_b: Sequence[str], codes, k: float = 4.0,
               initial: float = 1000.0) -> tuple[list, list]:
    """``(ratings, models)``: online Elo over battles in the given order; models sorted by name."""
    models = sorted(set(model_a) | set(model_b))
    index = {m: i for i, m in enumerate(models)}
    r = elo_from_indices([index[m] for m in model_a], [index[m] for m in model_b], codes, len(models), k, initial)
    return r.tolist(), models
