"""A population of annotators made of arbitrary oracles: each label comes from oracle k with probability w_k.

``P(a > b) = sum_k w_k P_k(a > b)``, and ``prefs`` is the same mixture of the oracles' matrices.

>>> from preflab.oracles import RewardOracle
>>> short = RewardOracle(lambda x, y: -len(y), temperature=0, name="short")
>>> long = RewardOracle(lambda x, y: len(y), temperature=0, name="long")
>>> Mixture([short, long], weights=[0.75, 0.25]).compare(["q"], ["a"], ["bb"]).tolist()
[0.75]
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .base import Oracle
from .validation import as_probabilities, check_pairs, check_rng, normalize_weights

__all__ = ["Mixture"]


class Mixture(Oracle):
    """An annotator mix of ``oracles`` with frequencies ``weights`` (normalized; uniform when None).

    ``sample_annotated`` draws the oracle of each item first and asks only that oracle about it (a mixture
    of LLM judges costs one judgment per item); ``compare`` and ``prefs`` ask every oracle about every item.
    """

    def __init__(self, oracles: Sequence[Oracle], weights: Optional[Sequence[float]] = None, *,
                 name: Optional[str] = None):
        oracles = list(oracles)
        for k, o in enumerate(oracles):
            if not isinstance(o, Oracle):
                raise TypeError(f"Mixture: oracles[{k}] must be a preflab Oracle, got {type(o).__name__}")
        self.oracles = oracles
        self.weights = normalize_weights("Mixture", weights, len(oracles))
        self.name = name or "mixture(" + ",".join(f"{w:.6g}*{o.name}" for w, o in zip(self.weights, oracles)) + ")"

    def compare(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        n = check_pairs(f"Mixture '{self.name}'.compare", prompts, first, second)
        total = np.zeros(n)
        for w, o in zip(self.weights, self.oracles):
            if w > 0:
                total += w * as_probabilities(f"Mixture '{self.name}': '{o.name}'.compare",
                                              o.compare(prompts, first, second), n)
        return total

    def prefs(self, prompt: str, responses: Sequence[str]) -> np.ndarray:
        return sum(w * o.prefs(prompt, responses) for w, o in zip(self.weights, self.oracles) if w > 0)

    def sample_annotated(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str],
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [n], index of the oracle that gave each label int64 [n])."""
        who = f"Mixture '{self.name}'.sample_annotated"
        n = check_pairs(who, prompts, first, second)
        check_rng(who, rng)
        types = rng.choice(len(self.oracles), size=n, p=self.weights).astype(np.int64)
        labels = np.zeros(n, dtype=np.int64)
        for k, o in enumerate(self.oracles):
            idx = np.flatnonzero(types == k)
            if len(idx):
                labels[idx] = o.sample_labels([prompts[i] for i in idx], [first[i] for i in idx],
                                              [second[i] for i in idx], rng)
        return labels, types

    def sample_labels(self, prompts, first, second, rng: np.random.Generator) -> np.ndarray:
        return self.sample_annotated(prompts, first, second, rng)[0]
