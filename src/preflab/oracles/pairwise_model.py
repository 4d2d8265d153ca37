"""A pairwise preference model (PairRM-style): reads (prompt, a, b) and returns P(a preferred to b).

Such models have a position bias, so by default each pair is judged in both orders and combined:
``P(a > b) = (p(a, b) + 1 - p(b, a)) / 2``; ``position_bias()`` reports how much the orders disagreed.

>>> biased = lambda prompts, first, second: [0.9 if len(a) > len(b) else 0.6 for a, b in zip(first, second)]
>>> oracle = PairwiseModelOracle(biased, name="biased")
>>> oracle.compare(["q"], ["long answer"], ["short"]).round(4).tolist()   # (0.9 + 1 - 0.6) / 2
[0.65]
>>> round(oracle.position_bias().first_position_win_rate, 4), oracle.position_bias().followed_first
(0.75, 1.0)
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .base import Oracle
from .position_bias import OrderRecord, PositionBias, combine_orders
from .validation import as_probabilities, check_pairs

__all__ = ["PairwiseModelOracle"]


class PairwiseModelOracle(Oracle):
    """Wraps ``fn(prompts, first, second) -> [n]`` P(first preferred) (or per item ``fn(prompt, a, b)`` with
    ``batched=False``). With ``both_orders=True`` (default) ``compare`` calls ``fn`` once on 2n pairs, both
    orders, and returns their combination; ``position_bias()`` covers every pair judged since the last
    ``reset_position_bias()``."""

    def __init__(self, fn: Callable, *, both_orders: bool = True, batched: bool = True, name: Optional[str] = None):
        if not callable(fn):
            raise TypeError(f"PairwiseModelOracle: fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.both_orders = both_orders
        self.batched = batched
        self.name = name or f"pairwise:{getattr(fn, '__qualname__', type(fn).__name__)}" + ("" if both_orders else ":one_order")
        self._orders = OrderRecord()

    def _call(self, prompts, first, second) -> np.ndarray:
        if self.batched:
            raw = self.fn(list(prompts), list(first), list(second))
        else:
            raw = [self.fn(x, a, b) for x, a, b in zip(prompts, first, second)]
        return as_probabilities(f"PairwiseModelOracle '{self.name}' (fn)", raw, len(first))

    def compare(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        n = check_pairs(f"PairwiseModelOracle '{self.name}'.compare", prompts, first, second)
        if not self.both_orders:
            return self._call(prompts, first, second)
        p = self._call(list(prompts) * 2, list(first) + list(second), list(second) + list(first))
        p_ab, p_ba = p[:n], p[n:]
        self._orders.add(p_ab, p_ba)
        return combine_orders(p_ab, p_ba)

    def position_bias(self) -> PositionBias:
        if not self.both_orders:
            raise ValueError(f"PairwiseModelOracle '{self.name}' judges one order only (both_orders=False), so "
                             "position bias cannot be measured; construct it with both_orders=True")
        return self._orders.report()

    def reset_position_bias(self) -> None:
        self._orders.reset()
