"""Judging response pairs and lists with any oracle, in both presentation orders, as graded verdicts.

A pair (a, b) is judged as shown (a first: ``p_ab`` = P(the first shown wins)) and swapped (b first:
``p_ba``). The swapped game counts inverted, as arena-hard-auto counts it, so the combined probability is
``p = (p_ab + 1 - p_ba) / 2`` = P(a preferred to b). Each probability reads as a graded verdict
(:func:`~preflab.oracles.verdict.verdict_from_probability`: ``[[A>>B]]`` ... ``[[B>>A]]``); an LLM judge's
graded reply maps to P(A wins) = 1, 3/4, 1/2, 1/4, 0 and back, so the labels survive the round trip.

A list of K responses is judged pair by pair (each pair once, i < j, in both orders): the [K, K] matrix
``P[i, j]`` = P(i preferred to j) and a ranking by mean preference (Borda) over the others.

Labels go through a :class:`~preflab.oracles.LabelLog` when one is given: each batch is on disk before the
next is asked, so a killed run resumes without asking twice.

>>> from preflab.oracles import CallableOracle
>>> first_slot = CallableOracle(compare_fn=lambda x, a, b: 0.75, name="first-slot")     # always [[A>B]]
>>> j = judge_pairs(first_slot, ["q"], ["a"], ["b"])[0]
>>> j.p, j.verdict.label(), j.winner, [v.label() for v in j.order_verdicts()]
(0.5, '[[A=B]]', 'tie', ['[[A>B]]', '[[A>B]]'])
>>> longer = CallableOracle(compare_fn=lambda x, a, b: float(len(a) > len(b)), name="longer")
>>> lj = judge_list(longer, "q", ["bb", "a", "ccc"])
>>> lj.prefs.tolist(), lj.ranking
([[0.5, 1.0, 0.0], [0.0, 0.5, 0.0], [1.0, 1.0, 0.5]], [2, 0, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from preflab.oracles import LabelLog, Oracle
from preflab.oracles.position_bias import combine_orders
from preflab.oracles.validation import as_probabilities
from preflab.oracles.verdict import Verdict, verdict_from_probability

__all__ = ["PairJudgment", "ListJudgment", "judge_pairs", "judge_list", "battle_winner"]


def battle_winner(verdict: Verdict) -> str:
    """A verdict about (response_a, response_b) as a FastChat ``winner``: ``model_a``, ``model_b`` or ``tie``."""
    return {"A": "model_a", "B": "model_b", "tie": "tie"}[verdict.winner]


@dataclass(frozen=True)
class PairJudgment:
    """One pair's judgment. ``p_ab``: P(first shown wins) with a shown first; ``p_ba``: the same with b shown
    first (None when one order was judged); ``p``: P(a preferred to b), both orders combined."""

    p_ab: float
    p_ba: Optional[float]

    @property
    def p(self) -> float:
        return self.p_ab if self.p_ba is None else float(combine_orders(self.p_ab, self.p_ba))

    @property
    def verdict(self) -> Verdict:
        """The combined verdict, A = response a, B = response b."""
        return verdict_from_probability(self.p)

    @property
    def winner(self) -> str:
        return battle_winner(self.verdict)

    @property
    def strength(self) -> int:
        """2 for ``>>``, else 1 (ties too, as battle lines need a strength)."""
        return self.verdict.strength or 1

    def order_verdicts(self) -> list[Verdict]:
        """The verdict of each order as the judge saw it (A = the response shown first)."""
        return [verdict_from_probability(p) for p in ((self.p_ab,) if self.p_ba is None else (self.p_ab, self.p_ba))]

    def as_dict(self) -> dict:
        orders = [{"shown": "ab" if k == 0 else "ba", "p_first": p, "verdict": v.label()}
                  for k, (p, v) in enumerate(zip((self.p_ab, self.p_ba), self.order_verdicts()))]
        return {"p": self.p, "verdict": self.verdict.label(), "winner": self.winner, "strength": self.strength,
                "orders": orders}


@dataclass(frozen=True)
class ListJudgment:
    """K responses to one prompt: ``prefs`` [K, K] (P[i, j] = P(i preferred to j), diagonal 1/2); ``pairs``
    maps (i, j), i < j, to its :class:`PairJudgment`; ``ranking``: indices best first (mean preference over
    the others, ties by index)."""

    prefs: np.ndarray
    pairs: dict
    ranking: list


def _ask(oracle: Oracle, prompts, first, second, log: Optional[LabelLog], batch_size: int) -> np.ndarray:
    if log is not None:
        return log.label(oracle, prompts, first, second, batch_size=batch_size)
    return as_probabilities(f"oracle '{oracle.name}'.compare", oracle.compare(prompts, first, second), len(prompts))


def judge_pairs(oracle: Oracle, prompts: Sequence[str], first: Sequence[str], second: Sequence[str], *,
                both_orders: bool = True, log: Optional[LabelLog] = None,
                batch_size: int = 64) -> list[PairJudgment]:
    """Judge ``first[i]`` against ``second[i]`` on ``prompts[i]``: as shown and, with ``both_orders``, swapped.

    The oracle is asked in the shown order only (``oracle.compare(prompts, shown_first, shown_second)``), so an
    oracle that already judges both orders itself (an LLM judge or a pairwise model built with
    ``both_orders=True``) should be built in one-order mode (``oracle_from_spec(..., one_order=True)``).
    Both orders of a batch go to the oracle in one call (an LLM judge runs them concurrently).
    """
    n = len(prompts)
    if not (len(first) == len(second) == n):
        raise ValueError(f"judge_pairs: prompts, first and second must have the same length, got {n}, "
                         f"{len(first)}, {len(second)}")
    if not both_orders:
        p = _ask(oracle, list(prompts), list(first), list(second), log, batch_size)
        return [PairJudgment(float(x), None) for x in p]
    p = _ask(oracle, list(prompts) * 2, list(first) + list(second), list(second) + list(first), log, batch_size)
    return [PairJudgment(float(p[i]), float(p[n + i])) for i in range(n)]


def judge_list(oracle: Oracle, prompt: str, responses: Sequence[str], *, both_orders: bool = True,
               log: Optional[LabelLog] = None, batch_size: int = 64) -> ListJudgment:
    """The [K, K] preference matrix of ``responses`` from :func:`judge_pairs` on every pair i < j, and a ranking."""
    k = len(responses)
    if k < 2:
        raise ValueError(f"judge_list: a list needs at least 2 responses, got {k}")
    i, j = np.triu_indices(k, 1)
    judged = judge_pairs(oracle, [prompt] * len(i), [responses[a] for a in i], [responses[b] for b in j],
                         both_orders=both_orders, log=log, batch_size=batch_size)
    P = np.full((k, k), 0.5)
    pairs = {}
    for a, b, jd in zip(i.tolist(), j.tolist(), judged):
        P[a, b], P[b, a] = jd.p, 1.0 - jd.p
        pairs[(a, b)] = jd
    score = (P.sum(axis=1) - 0.5) / (k - 1)
    ranking = sorted(range(k), key=lambda r: (-score[r], r))
    return ListJudgment(P, pairs, ranking)
