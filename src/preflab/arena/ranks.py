"""Ranks as Chatbot Arena defines them: a model's rank is one plus the number of models that are better
with confidence, i.e. whose interval's lower bound lies above this model's upper bound.

    rank_i = 1 + #{ j : lower_j > upper_i }

so models whose intervals overlap share ranks (and ranks may skip).

>>> arena_ranks(lower=[1100, 1050, 990, 900], upper=[1150, 1120, 1060, 1000]).tolist()
[1, 1, 2, 3]
"""

from __future__ import annotations

import numpy as np

__all__ = ["arena_ranks"]


def arena_ranks(lower, upper) -> np.ndarray:
    """int [n]: 1 + the number of models whose ``lower`` exceeds this model's ``upper``."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if lower.shape != upper.shape:
        raise ValueError(f"lower {lower.shape} and upper {upper.shape} must have the same shape")
    return 1 + (lower[None, :] > upper[:, None]).sum(axis=1)
