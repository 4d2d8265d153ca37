"""Label noise: an annotator who reports the opposite of an oracle's label with probability ``flip``.

``P'(a > b) = (1 - f) P(a > b) + f (1 - P(a > b))``; ``f = 1/2`` is pure noise, ``f > 1/2`` an adversary.

>>> from preflab.oracles import RewardOracle
>>> noisy = Noisy(RewardOracle(lambda x, y: len(y), temperature=0), flip=0.1)
>>> noisy.compare(["q", "q"], ["long", "a"], ["a", "long"]).round(4).tolist()
[0.9, 0.1]
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .base import Oracle
from .validation import as_probabilities, check_pairs, check_rng

__all__ = ["Noisy"]


class Noisy(Oracle):
    """Flips ``oracle``'s labels with probability ``flip``: ``p -> (1 - f) p + f (1 - p)``.

    ``prefs`` maps the inner matrix by the same formula (the diagonal stays 1/2); ``sample_labels`` draws the
    inner oracle's labels and flips each with probability ``f``, which has exactly that distribution.
    ``score`` is not defined (flipped Bradley-Terry preferences are not Bradley-Terry in the rewards).
    """

    def __init__(self, oracle: Oracle, flip: float = 0.1, *, name: Optional[str] = None):
        if not isinstance(oracle, Oracle):
            raise TypeError(f"Noisy: oracle must be a preflab Oracle, got {type(oracle).__name__}")
        flip = float(flip)
        if not 0.0 <= flip <= 1.0:
            raise ValueError(f"Noisy: flip is a probability and must lie in [0, 1], got {flip}")
        self.oracle = oracle
        self.flip = flip
        self.name = name or f"noisy({oracle.name},flip={flip:g})"

    def _map(self, p: np.ndarray) -> np.ndarray:
        return (1.0 - self.flip) * p + self.flip * (1.0 - p)

    def compare(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        n = check_pairs(f"Noisy '{self.name}'.compare", prompts, first, second)
        p = as_probabilities(f"Noisy '{self.name}': inner oracle '{self.oracle.name}'.compare",
                             self.oracle.compare(prompts, first, second), n)
        return self._map(p)

    def prefs(self, prompt: str, responses: Sequence[str]) -> np.ndarray:
        return self._map(self.oracle.prefs(prompt, responses))

    def sample_labels(self, prompts, first, second, rng: np.random.Generator) -> np.ndarray:
        who = f"Noisy '{self.name}'.sample_labels"
        n = check_pairs(who, prompts, first, second)
        check_rng(who, rng)
        labels = np.asarray(self.oracle.sample_labels(prompts, first, second, rng), dtype=np.int64)
        flips = rng.random(n) < self.flip
        return np.where(flips, 1 - labels, labels)
