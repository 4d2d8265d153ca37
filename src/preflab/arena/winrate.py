"""Win-rate matrices: observed (ties count half) and predicted by ratings on the Elo scale.

>>> from preflab.arena.pairs import pair_counts
>>> c = pair_counts([{"model_a": "a", "model_b": "b", "winner": w} for w in ("model_a", "model_a", "tie", "model_b")])
>>> win_rate_matrix(c).tolist()
[[0.5, 0.625], [0.375, 0.5]]
>>> predicted_win_rate([1100.0, 1000.0]).round(4).tolist()
[[0.5, 0.6401], [0.3599, 0.5]]
"""

from __future__ import annotations

import numpy as np

from .pairs import PairCounts

__all__ = ["win_rate_matrix", "predicted_win_rate"]


def win_rate_matrix(counts: PairCounts, missing: float = np.nan) -> np.ndarray:
    """[n, n]: (wins_ij + ties_ij / 2) / battles_ij; ``missing`` where a pair never met; diagonal 1/2."""
    N = counts.games
    with np.errstate(invalid="ignore", divide="ignore"):
        W = np.where(N > 0, (counts.wins + 0.5 * counts.ties) / np.where(N > 0, N, 1), missing)
    np.fill_diagonal(W, 0.5)
    return W


def predicted_win_rate(ratings) -> np.ndarray:
    """[n, n]: P(i beats j) = 1 / (1 + 10^((R_j - R_i) / 400))."""
    r = np.asarray(ratings, dtype=float)
    return 1.0 / (1.0 + 10.0 ** ((r[None, :] - r[:, None]) / 400.0))
