"""The Bradley-Terry link from scalar rewards to preference probabilities, with a temperature.

``P(a preferred to b) = sigmoid((r_a - r_b) / T)``; ``T = 0`` is the hard limit: 1, 0, or 1/2 on a tie.

>>> [round(float(p), 4) for p in bt_probability([1.0, 0.0, 2.0], [0.0, 0.0, 3.0], temperature=1.0)]
[0.7311, 0.5, 0.2689]
>>> bt_probability([1.0, 0.0, 2.0], [0.0, 0.0, 3.0], temperature=0.0).tolist()
[1.0, 0.5, 0.0]
>>> bt_matrix([0.0, 1.0], temperature=0.5).round(4).tolist()
[[0.5, 0.1192], [0.8808, 0.5]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["sigmoid", "bt_probability", "bt_matrix"]


def sigmoid(x) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow (as ``(1 + tanh(x / 2)) / 2``), float64."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def bt_probability(r_first, r_second, temperature: float = 1.0) -> np.ndarray:
    """``sigmoid((r_first - r_second) / T)`` elementwise; ``T = 0``: 1 if r_first > r_second, 0 if less,
    1/2 if equal."""
    d = np.asarray(r_first, dtype=np.float64) - np.asarray(r_second, dtype=np.float64)
    if temperature == 0:
        return 0.5 * (1.0 + np.sign(d))
    return sigmoid(d / temperature)


def bt_matrix(rewards, temperature: float = 1.0) -> np.ndarray:
    """The [K, K] matrix ``P[i, j] = bt_probability(r_i, r_j, T)`` (``P + P.T = 1``, diagonal 1/2)."""
    r = np.asarray(rewards, dtype=np.float64)
    return bt_probability(r[:, None], r[None, :], temperature)
