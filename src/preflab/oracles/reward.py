"""Reward oracles: a scalar reward per response and the Bradley-Terry link to preferences.

``P(a preferred to b | x) = sigmoid((r(x, a) - r(x, b)) / T)``; ``temperature=0`` gives hard labels
(1, 0, or 1/2 on equal rewards). Subclasses (reward models, embedding similarity) override ``_rewards``.

>>> oracle = RewardOracle(lambda prompt, response: response.count("!"), temperature=0.5)
>>> oracle.compare(["q"], ["hi!"], ["hi"]).round(4).tolist()        # sigmoid(1 / 0.5)
[0.8808]
>>> RewardOracle(lambda x, y: len(y), temperature=0).prefs("q", ["a", "bb", "cc"]).tolist()
[[0.5, 0.0, 0.0], [1.0, 0.5, 0.5], [1.0, 0.5, 0.5]]
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .base import Oracle
from .bradley_terry import bt_probability
from .validation import as_rewards, check_pairs, check_temperature, check_texts

__all__ = ["RewardOracle"]


class RewardOracle(Oracle):
    """Preferences from a reward function through the Bradley-Terry link with temperature ``T``.

    ``score_fn(prompt, response) -> float`` per item, or with ``batched=True``
    ``score_fn(prompts, responses) -> [n]``. ``compare`` scores both sides in one call of 2n items.
    """

    def __init__(self, score_fn: Optional[Callable] = None, temperature: float = 1.0, *, batched: bool = False,
                 name: Optional[str] = None):
        if score_fn is not None and not callable(score_fn):
            raise TypeError(f"RewardOracle: score_fn must be callable, got {type(score_fn).__name__}")
        if score_fn is None and type(self)._rewards is RewardOracle._rewards:
            raise ValueError("RewardOracle needs score_fn (prompt, response) -> reward")
        self.score_fn = score_fn
        self.batched = batched
        self.temperature = check_temperature(f"{type(self).__name__}", temperature)
        self.bt_temperature = self.temperature
        if name is None:
            fn = getattr(score_fn, "__qualname__", type(self).__name__) if score_fn is not None else type(self).__name__
            name = f"reward:{fn}"
        self.name = name

    def _rewards(self, prompts: list[str], responses: list[str]):
        """Raw rewards for n (prompt, response) pairs; subclasses override this one method."""
        if self.batched:
            return self.score_fn(prompts, responses)
        return [self.score_fn(x, y) for x, y in zip(prompts, responses)]

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        who = f"{type(self).__name__} '{self.name}'.score"
        n = check_texts(who, prompts=prompts, responses=responses)
        if n == 0:
            return np.zeros(0)
        return as_rewards(who, self._rewards(list(prompts), list(responses)), n)

    def compare(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        n = check_pairs(f"{type(self).__name__} '{self.name}'.compare", prompts, first, second)
        r = self.score(list(prompts) * 2, list(first) + list(second))
        return bt_probability(r[:n], r[n:], self.temperature)
