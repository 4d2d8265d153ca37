"""Position bias of a pairwise judge that saw each pair in both orders.

For item i, ``p_ab[i]`` is P(the response shown first wins) with ``(a, b)`` shown, and ``p_ba[i]`` the same
with ``(b, a)`` shown. A judge that reads only content has ``p_ba = 1 - p_ab``. The combined, debiased
probability is ``(p_ab + 1 - p_ba) / 2``.

>>> report = position_bias([0.9, 0.8, 0.3], [0.7, 0.1, 0.6])
>>> report.n_items, report.followed_position, report.followed_first, report.consistent
(3, 0.3333333333333333, 0.3333333333333333, 0.6666666666666666)
>>> round(report.first_position_win_rate, 4)        # mean of all six judgments
0.5667
>>> combine_orders([0.9], [0.7]).round(4).tolist()
[0.6]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["PositionBias", "position_bias", "combine_orders"]


def combine_orders(p_ab, p_ba) -> np.ndarray:
    """``(p_ab + 1 - p_ba) / 2``: P(a preferred to b) averaged over the two presentation orders."""
    p_ab = np.asarray(p_ab, dtype=np.float64)
    p_ba = np.asarray(p_ba, dtype=np.float64)
    return 0.5 * (p_ab + 1.0 - p_ba)


@dataclass(frozen=True)
class PositionBias:
    """How much a judge's verdicts follow the position of a response rather than its content.

    A verdict is "first" when P(first shown wins) > 1/2, "second" when < 1/2, "tie" when = 1/2.

    - ``n_items``: pairs judged in both orders;
    - ``first_position_win_rate``: mean P(first shown wins) over all 2n judgments (1/2 for a judge that
      ignores position, since each pair is shown both ways);
    - ``followed_position``: fraction of items whose verdicts named the same *slot* in both orders (the
      verdict followed the position, not the response) = ``followed_first + followed_second``;
    - ``followed_first`` / ``followed_second``: the first / second slot both times;
    - ``consistent``: fraction whose verdicts named the same *response* in both orders (ties both times count);
    - ``mean_order_gap``: mean |p_ab - (1 - p_ba)|, the soft disagreement between the orders.
    """

    n_items: int
    first_position_win_rate: float
    followed_position: float
    followed_first: float
    followed_second: float
    consistent: float
    mean_order_gap: float

    def as_dict(self) -> dict:
        return asdict(self)


def position_bias(p_ab, p_ba) -> PositionBias:
    """The :class:`PositionBias` of paired judgments (float arrays [n], both in [0, 1])."""
    p_ab = np.asarray(p_ab, dtype=np.float64).reshape(-1)
    p_ba = np.asarray(p_ba, dtype=np.float64).reshape(-1)
    if p_ab.shape != p_ba.shape:
        raise ValueError(f"position_bias: p_ab and p_ba must have the same length, got {len(p_ab)} and {len(p_ba)}")
    n = len(p_ab)
    if n == 0:
        nan = float("nan")
        return PositionBias(0, nan, nan, nan, nan, nan, nan)
    v_ab, v_ba = np.sign(p_ab - 0.5), np.sign(p_ba - 0.5)       # +1 first slot, -1 second slot, 0 tie
    first = (v_ab > 0) & (v_ba > 0)
    second = (v_ab < 0) & (v_ba < 0)
    consistent = (v_ab == -v_ba)
    return PositionBias(
        n_items=n,
        first_position_win_rate=float(np.mean(np.concatenate([p_ab, p_ba]))),
        followed_position=float(np.mean(first | second)),
        followed_first=float(np.mean(first)),
        followed_second=float(np.mean(second)),
        consistent=float(np.mean(consistent)),
        mean_order_gap=float(np.mean(np.abs(p_ab - (1.0 - p_ba)))),
    )


class OrderRecord:
    """What a both-orders oracle has judged so far (``p_ab``, ``p_ba`` per item), for ``position_bias()``."""

    def __init__(self):
        self._ab: list[np.ndarray] = []
        self._ba: list[np.ndarray] = []

    def add(self, p_ab, p_ba) -> None:
        self._ab.append(np.asarray(p_ab, dtype=np.float64).reshape(-1))
        self._ba.append(np.asarray(p_ba, dtype=np.float64).reshape(-1))

    def report(self) -> PositionBias:
        if not self._ab:
            return position_bias([], [])
        return position_bias(np.concatenate(self._ab), np.concatenate(self._ba))

    def reset(self) -> None:
        self._ab.clear()
        self._ba.clear()
