"""Non-transitive views of an arena, from the empirical win-rate matrix P (ties half; pairs that never met
count 1/2): the maximal lottery (the symmetric Nash equilibrium of the zero-sum game "draw a model, beat
the other", i.e. Nash averaging's mass per model), and each model's duality gap against the population,
DG(e_i) = 2 max_j P[j, i] - 1: how badly the best opponent beats it (0 = no model beats it).
Both come from :mod:`preflab.games`.

>>> P = np.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])    # rock, paper, scissors
>>> view = nash_view(P, ["r", "p", "s"])
>>> {m: round(v["nash_mass"], 6) for m, v in view.items()}
{'r': 0.333333, 'p': 0.333333, 's': 0.333333}
>>> [v["duality_gap"] for v in view.values()]
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from preflab.games import duality_gap, maximal_lottery

__all__ = ["nash_view", "game_matrix"]


def game_matrix(win_rates: np.ndarray) -> np.ndarray:
    """The preference matrix of the arena game: win rates with unseen pairs at 1/2, diagonal 1/2."""
    P = np.where(np.isnan(win_rates), 0.5, np.asarray(win_rates, dtype=float))
    np.fill_diagonal(P, 0.5)
    return P


def nash_view(win_rates: np.ndarray, models: Sequence[str]) -> dict:
    """model -> {"nash_mass": maximal-lottery probability, "duality_gap": DG of the pure model}. (The
    lottery's own gap is 0 up to 1e-9: :func:`preflab.games.maximal_lottery` certifies it.)"""
    P = game_matrix(win_rates)
    n = len(models)
    if P.shape != (n, n):
        raise ValueError(f"win-rate matrix {P.shape} does not match {n} models")
    mass = maximal_lottery(P)
    gaps = [duality_gap(P, np.eye(n)[i]) for i in range(n)]
    return {m: {"nash_mass": float(mass[i]), "duality_gap": float(gaps[i])} for i, m in enumerate(models)}
