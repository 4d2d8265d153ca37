"""Oracles from plain Python functions: a comparison function, a reward function, or both.

Functions are per item by default (``compare_fn(prompt, a, b) -> float``, ``score_fn(prompt, response) ->
float``); with ``batched=True`` they take whole lists (``compare_fn(prompts, first, second)``,
``score_fn(prompts, responses)``) and return [n] arrays, which is the fast path for a model.

>>> oracle = CallableOracle(score_fn=lambda prompt, response: len(response), name="length")
>>> oracle.compare(["q"], ["four"], ["two"]).round(4).tolist()      # sigmoid(4 - 3)
[0.7311]
>>> judge = CallableOracle(compare_fn=lambda prompt, a, b: 1.0 if "please" in a else 0.0, name="polite")
>>> judge.compare(["q", "q"], ["please", "no"], ["no", "please"]).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .base import Oracle
from .reward import RewardOracle
from .validation import as_probabilities, check_pairs

__all__ = ["CallableOracle"]


def _fn_name(fn) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


class CallableOracle(Oracle):
    """An oracle from ``compare_fn`` (P(a preferred to b)), ``score_fn`` (a reward), or both.

    - only ``score_fn``: ``compare = sigmoid((score(a) - score(b)) / temperature)`` (as :class:`RewardOracle`),
      and ``prefs`` uses K scores;
    - ``compare_fn`` given: ``compare`` calls it (values must lie in [0, 1]); ``score`` calls ``score_fn`` when
      given and raises NotImplementedError otherwise; ``prefs`` compares pairs.

    ``name`` defaults to ``callable:<function name>``; give a real one when labels are logged.
    """

    def __init__(self, compare_fn: Optional[Callable] = None, score_fn: Optional[Callable] = None, *,
                 name: Optional[str] = None, batched: bool = False, temperature: float = 1.0):
        if compare_fn is None and score_fn is None:
            raise ValueError("CallableOracle needs compare_fn (prompt, a, b) -> P(a preferred to b) or "
                             "score_fn (prompt, response) -> reward; got neither")
        for arg, fn in (("compare_fn", compare_fn), ("score_fn", score_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"CallableOracle: {arg} must be callable, got {type(fn).__name__}")
        self.name = name or f"callable:{_fn_name(compare_fn if compare_fn is not None else score_fn)}"
        self.compare_fn = compare_fn
        self.batched = batched
        self._reward = (RewardOracle(score_fn, temperature, batched=batched, name=self.name)
                        if score_fn is not None else None)
        self.bt_temperature = self._reward.temperature if (compare_fn is None) else None

    def compare(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        who = f"CallableOracle '{self.name}'.compare"
        n = check_pairs(who, prompts, first, second)
        if self.compare_fn is None:
            return self._reward.compare(prompts, first, second)
        if self.batched:
            raw = self.compare_fn(list(prompts), list(first), list(second))
        else:
            raw = [self.compare_fn(x, a, b) for x, a, b in zip(prompts, first, second)]
        return as_probabilities(f"{who} (compare_fn)", raw, n)

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if self._reward is None:
            raise NotImplementedError(f"CallableOracle '{self.name}' has no score_fn, so no scalar rewards; "
                                      "pass score_fn=... or use compare()/prefs()")
        return self._reward.score(prompts, responses)
