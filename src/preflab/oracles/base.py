"""The oracle contract: who decides which of two responses to a prompt is better, and how sure it is.

Every oracle answers ``compare(prompts, first, second)`` with ``P(first[i] preferred to second[i] | prompts[i])``
as float64 [n] in [0, 1] (hard labels are 0, 1 and 1/2 for a tie). Oracles with scalar rewards also answer
``score(prompts, responses)``. From these the base class derives:

- ``prefs(prompt, responses)``: the [K, K] matrix ``P[i, j] = P(y_i preferred to y_j)`` (``P + P.T = 1``,
  diagonal 1/2), what ``ScoreBatch.prefs[b]`` holds. When the oracle's ``compare`` is by definition the
  Bradley-Terry link of its ``score`` (``bt_temperature`` is not None) it costs K ``score`` calls;
  otherwise K(K-1)/2 ``compare`` calls, each pair once with ``y_i`` shown first (``i < j``).
- ``prefs_batch(prompts, responses)``: the [B, K, K] stack for a ScoreBatch, ragged lists padded with 1/2.
- ``sample_labels(prompts, first, second, rng)``: Bernoulli draws of ``compare`` (1 = first preferred),
  what a noisy human annotator returns.

>>> import numpy as np
>>> class Longer(Oracle):
...     name = "longer"
...     def compare(self, prompts, first, second):
...         return np.array([float(len(a) > len(b)) + 0.5 * (len(a) == len(b)) for a, b in zip(first, second)])
>>> Longer().prefs("q", ["a", "bbb", "cc"]).tolist()
[[0.5, 0.0, 0.0], [1.0, 0.5, 1.0], [1.0, 0.0, 0.5]]
>>> Longer().sample_labels(["q", "q"], ["aa", "a"], ["a", "aa"], np.random.default_rng(0)).tolist()
[1, 0]
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .bradley_terry import bt_matrix
from .validation import as_probabilities, check_pairs, check_rng, check_texts

__all__ = ["Oracle"]


class Oracle:
    """Base class of every oracle. Subclasses implement ``compare`` and, when they have scalar rewards,
    ``score``; set ``bt_temperature`` to the temperature T when ``compare`` is exactly
    ``sigmoid((score(a) - score(b)) / T)`` so that ``prefs`` can use K scores instead of K^2/2 comparisons.

    ``name`` identifies the oracle *and its settings*: :class:`~preflab.oracles.LabelLog` keys saved labels
    by it, so two oracles that may disagree must not share a name.
    """

    name: str = "oracle"
    bt_temperature: Optional[float] = None

    # -- the two primitives ----------------------------------------------------------------------------
    def compare(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        """``P(first[i] preferred to second[i] | prompts[i])`` in [0, 1], float64 [n]."""
        raise NotImplementedError(f"{type(self).__name__} '{self.name}' does not implement compare()")

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Scalar rewards, float64 [n]; purely pairwise oracles raise NotImplementedError."""
        raise NotImplementedError(
            f"{type(self).__name__} '{self.name}' is pairwise and has no scalar rewards; use compare() or prefs()"
        )

    # -- derived ---------------------------------------------------------------------------------------
    def prefs(self, prompt: str, responses: Sequence[str]) -> np.ndarray:
        """The [K, K] preference matrix of K responses to one prompt (``P + P.T = 1``, diagonal 1/2)."""
        who = f"{type(self).__name__} '{self.name}'.prefs"
        if not isinstance(prompt, str):
            raise TypeError(f"{who}: prompt must be one string, got {type(prompt).__name__}; "
                            "for several prompts use prefs_batch")
        k = check_texts(who, responses=responses)
        if self.bt_temperature is not None:
            return bt_matrix(self.score([prompt] * k, list(responses)), self.bt_temperature)
        i, j = np.triu_indices(k, 1)
        p = as_probabilities(f"{who} (via compare)",
                             self.compare([prompt] * len(i), [responses[a] for a in i], [responses[b] for b in j]),
                             len(i))
        P = np.full((k, k), 0.5)
        P[i, j] = p
        P[j, i] = 1.0 - p
        return P

    def prefs_batch(self, prompts: Sequence[str], responses: Sequence[Sequence[str]]) -> np.ndarray:
        """[B, K, K] float64 with ``out[b] = prefs(prompts[b], responses[b])``; K is the longest list and a
        shorter list's absent slots hold 1/2 (give ScoreBatch ``mask[b, k] = k < len(responses[b])``)."""
        who = f"{type(self).__name__} '{self.name}'.prefs_batch"
        b = check_texts(who, prompts=prompts)
        if len(responses) != b:
            raise ValueError(f"{who}: prompts and responses must have the same length, got {b} and {len(responses)}")
        k = max((len(r) for r in responses), default=0)
        out = np.full((b, k, k), 0.5)
        for row, (prompt, resp) in enumerate(zip(prompts, responses)):
            out[row, :len(resp), :len(resp)] = self.prefs(prompt, resp)
        return out

    def sample_labels(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str],
                      rng: np.random.Generator) -> np.ndarray:
        """int64 [n]: 1 where the first response was preferred, drawn as Bernoulli(``compare``)."""
        who = f"{type(self).__name__} '{self.name}'.sample_labels"
        n = check_pairs(who, prompts, first, second)
        check_rng(who, rng)
        p = as_probabilities(f"{type(self).__name__} '{self.name}'.compare", self.compare(prompts, first, second), n)
        return (rng.random(n) < p).astype(np.int64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
