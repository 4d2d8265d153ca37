"""Known ground-truth preferences for synthetic tasks: a mixture of annotator types with their own utilities.

Annotator type k has a utility ``u_k(prompt, response)`` and is drawn with probability ``w_k``; given its type,
an annotator prefers ``a`` to ``b`` with probability ``sigmoid((u_k(a) - u_k(b)) / T)``. The population's
preference is the mixture

    P(a > b | x) = sum_k w_k * sigmoid((u_k(x, a) - u_k(x, b)) / T)

which need not be transitive (a Condorcet cycle, below) even though each type is. ``T = 0`` makes each
type decide deterministically (1/2 on equal utilities).

>>> rankings = ["abc", "bca", "cab"]                      # three voters, three candidates
>>> voters = [lambda x, y, r=r: -float(r.index(y)) for r in rankings]
>>> truth = AnnotatorMixture(voters, temperature=0.0, name="condorcet")
>>> P = truth.exact_prefs("q", ["a", "b", "c"])
>>> [round(float(P[0, 1]), 4), round(float(P[1, 2]), 4), round(float(P[2, 0]), 4)]   # a > b > c > a
[0.6667, 0.6667, 0.6667]
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .base import Oracle
from .bradley_terry import bt_probability
from .validation import as_rewards, check_pairs, check_rng, check_temperature, normalize_weights

__all__ = ["GroundTruth", "AnnotatorMixture"]


class GroundTruth(Oracle):
    """An oracle whose preference matrix is known exactly (synthetic tasks): ``exact_prefs(prompt, responses)``
    is the true [K, K] matrix and ``prefs`` returns it."""

    def exact_prefs(self, prompt: str, responses: Sequence[str]) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} '{self.name}' does not implement exact_prefs()")

    def prefs(self, prompt: str, responses: Sequence[str]) -> np.ndarray:
        return self.exact_prefs(prompt, responses)


class AnnotatorMixture(GroundTruth):
    """``P(a > b | x) = sum_k w_k sigmoid((u_k(x, a) - u_k(x, b)) / T)`` over annotator types k.

    ``utilities``: one ``u_k(prompt, response) -> float`` per type; ``weights``: the type frequencies
    (normalized; uniform when None); ``temperature``: T >= 0, shared by the types (0: hard decisions).

    ``sample_annotated`` draws the annotator type of each item first, then its label, so the labels are
    Bernoulli(``compare``) and the types are known; ``sample_labels`` returns the labels of that draw.
    With one type, ``score`` is its utility and the oracle is a Bradley-Terry reward oracle.
    """

    def __init__(self, utilities: Sequence[Callable[[str, str], float]], weights: Optional[Sequence[float]] = None,
                 temperature: float = 1.0, *, name: str = "annotator_mixture"):
        if callable(utilities):
            utilities = [utilities]
        utilities = list(utilities)
        for k, u in enumerate(utilities):
            if not callable(u):
                raise TypeError(f"AnnotatorMixture: utilities[{k}] must be a function (prompt, response) -> float, "
                                f"got {type(u).__name__}")
        self.utilities = utilities
        self.weights = normalize_weights("AnnotatorMixture", weights, len(utilities))
        self.temperature = check_temperature("AnnotatorMixture", temperature)
        self.name = name
        self.bt_temperature = self.temperature if len(utilities) == 1 else None

    # -- utilities -------------------------------------------------------------------------------------
    def utility_table(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """float64 [n_types, n]: ``u_k(prompts[i], responses[i])``."""
        n = len(responses)
        rows = []
        for k, u in enumerate(self.utilities):
            rows.append(as_rewards(f"AnnotatorMixture '{self.name}' utilities[{k}]",
                                   [u(x, y) for x, y in zip(prompts, responses)], n))
        return np.stack(rows) if rows else np.zeros((0, n))

    def _type_probs(self, prompts, first, second) -> np.ndarray:
        """[n_types, n]: P(first > second) for an annotator of each type."""
        n = len(first)
        u = self.utility_table(list(prompts) * 2, list(first) + list(second))
        return bt_probability(u[:, :n], u[:, n:], self.temperature)

    # -- the contract ----------------------------------------------------------------------------------
    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if len(self.utilities) != 1:
            raise NotImplementedError(
                f"AnnotatorMixture '{self.name}' mixes {len(self.utilities)} annotator types, so no single reward "
                "explains it; use compare()/prefs(), or utility_table() for each type's utility")
        return self.utility_table(prompts, responses)[0]

    def compare(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        check_pairs(f"AnnotatorMixture '{self.name}'.compare", prompts, first, second)
        return self.weights @ self._type_probs(prompts, first, second)

    def exact_prefs(self, prompt: str, responses: Sequence[str]) -> np.ndarray:
        """The exact [K, K] matrix, from K utilities per type."""
        k = len(responses)
        u = self.utility_table([prompt] * k, list(responses))                       # [types, K]
        per_type = bt_probability(u[:, :, None], u[:, None, :], self.temperature)   # [types, K, K]
        return np.einsum("t,tij->ij", self.weights, per_type)

    def sample_annotated(self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str],
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [n] with 1 = first preferred, annotator types int64 [n]): each item's type is drawn
        from ``weights``, then its label from that type's ``sigmoid(du / T)``."""
        who = f"AnnotatorMixture '{self.name}'.sample_annotated"
        n = check_pairs(who, prompts, first, second)
        check_rng(who, rng)
        types = rng.choice(len(self.utilities), size=n, p=self.weights).astype(np.int64)
        p = self._type_probs(prompts, first, second)[types, np.arange(n)]
        labels = (rng.random(n) < p).astype(np.int64)
        return labels, types

    def sample_labels(self, prompts, first, second, rng: np.random.Generator) -> np.ndarray:
        return self.sample_annotated(prompts, first, second, rng)[0]
