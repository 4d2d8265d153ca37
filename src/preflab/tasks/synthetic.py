"""Synthetic language tasks with exact ground-truth preferences, small enough for a tiny model on 2 CPU cores.

A prompt is a topic (``"t2 :"``); a response is a few words from a 16-word vocabulary; each annotator type
scores a response by the mean value of its words (plus a bonus for the topic's favourite word) and
compares two responses by Bradley-Terry on those scores. The supervised (SFT) data are drawn from a base
distribution that over-uses the words every annotator dislikes, so there is something to learn.

- ``transitive``: one annotator type; the preference is a BT model of one utility.
- ``heterogeneous``: three annotator types, mixed 45 / 35 / 20 %, who all dislike junk words but rank three
  style groups in rotated orders (A > B > C, B > C > A, C > A > B): the aggregate prefers A to B (64 %),
  B to C (79 %) and C to A (54 %) on single-style responses, so no response is best, no reward model can
  represent the preference, and the equilibrium is a mixture of styles.
- ``sentiment``: the analogue of DiscoPOP's IMDb task: the reward is a "classifier probability"
  ``sigmoid(2 (positives - negatives))``; preferences are BT on it; methods are compared on the
  reward-against-KL frontier.

>>> task = get_task("heterogeneous")
>>> oracle = task.oracle()
>>> float(oracle.compare(["t0 :"], ["formal formal formal"], ["casual casual casual"])[0]) > 0.5
True
>>> P = oracle.prefs("t0 :", ["formal formal", "casual casual", "vivid vivid"])
>>> bool(P[0, 1] > 0.5 and P[1, 2] > 0.5 and P[2, 0] > 0.5)         # a cycle
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .vocab import word_tokenizer

__all__ = ["WordTask", "get_task", "TASKS"]

QUALITY = ["clear", "exact", "kind", "useful"]
JUNK = ["um", "uh", "err", "hmm"]
STYLE = {"A": ["formal", "precise"], "B": ["casual", "friendly"], "C": ["vivid", "poetic"]}
NEUTRAL = ["the", "and"]
POSITIVE = ["great", "love", "fine", "happy"]
NEGATIVE = ["awful", "hate", "poor", "sad"]


@dataclass
class WordTask:
    """A synthetic task over word responses. ``annotators`` maps each annotator type to its word values;
    ``weights`` are the types' shares; ``temperature`` the BT scale of each type's comparisons. A task with
    ``reward`` set scores responses by it instead (BT at ``temperature`` gives its preferences)."""

    name: str
    description: str
    words: List[str]
    annotators: Dict[str, Dict[str, float]] = field(default_factory=dict)
    weights: Optional[List[float]] = None
    temperature: float = 0.25
    reward: Optional[Callable[[str], float]] = None
    base_weights: Dict[str, float] = field(default_factory=dict)   # the SFT data's word frequencies (default 1)
    n_topics: int = 4
    topic_bonus: float = 0.5
    min_words: int = 3
    max_words: int = 6

    # -- text ---------------------------------------------------------------------------------------------
    @property
    def topics(self) -> List[str]:
        return [f"t{i}" for i in range(self.n_topics)]

    def prompts(self) -> List[str]:
        return [f"{t} :" for t in self.topics]

    def favourite(self, prompt: str) -> str:
        """The word the prompt's topic rewards (topic i: the i-th quality word, cycling)."""
        topic = prompt.split()[0]
        return QUALITY[int(topic[1:]) % len(QUALITY)]

    @property
    def max_new_tokens(self) -> int:
        return self.max_words + 1                                   # the words and EOS

    def tokenizer(self):
        return word_tokenizer(self.topics + [":"], self.words)

    def model(self, seed: int = 0, **overrides):
        """A tiny Llama sized to the task's vocabulary (2 layers, hidden 64)."""
        from preflab.models import tiny_llama

        kw = dict(vocab_size=len(self.tokenizer()), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, seed=seed)
        kw.update(overrides)
        return tiny_llama(**kw)

    # -- supervised data ---------------------------------------------------------------------------------------
    def sft_examples(self, n: int, seed: int = 0) -> List[Tuple[str, str]]:
        """n (prompt, response) pairs from the base distribution: uniform topic, length uniform in
        [min_words, max_words], words i.i.d. with ``base_weights``."""
        rng = np.random.default_rng(seed)
        p = np.array([self.base_weights.get(w, 1.0) for w in self.words])
        p = p / p.sum()
        out = []
        for _ in range(n):
            prompt = self.prompts()[rng.integers(self.n_topics)]
            length = rng.integers(self.min_words, self.max_words + 1)
            out.append((prompt, " ".join(self.words[i] for i in rng.choice(len(self.words), size=length, p=p))))
        return out

    # -- ground truth ------------------------------------------------------------------------------------------
    def utility(self, annotator: str, prompt: str, response: str) -> float:
        """The mean word value under one annotator type, plus the topic bonus; an empty response is worst."""
        values, words = self.annotators[annotator], response.split()
        if not words:
            return -2.0
        fav = self.favourite(prompt)
        return float(np.mean([values.get(w, -2.0) + (self.topic_bonus if w == fav else 0.0) for w in words]))

    def score(self, prompt: str, response: str) -> float:
        """The task's reward: ``reward(response)`` when set, else the weighted mean utility (what a single
        reward model fitted to the mixed annotators would at best represent)."""
        if self.reward is not None:
            return float(self.reward(response))
        w = self._weights()
        return float(sum(wk * self.utility(k, prompt, response) for k, wk in zip(self.annotators, w)))

    def _weights(self) -> List[float]:
        w = self.weights or [1.0] * len(self.annotators)
        return [x / sum(w) for x in w]

    def oracle(self):
        """The exact ground truth: an annotator mixture (or BT on the reward)."""
        from preflab.oracles import AnnotatorMixture, RewardOracle

        if self.reward is not None:
            return RewardOracle(self.score, temperature=self.temperature, name=f"{self.name}-truth")
        utilities = [self._utility_fn(k) for k in self.annotators]
        return AnnotatorMixture(utilities, self._weights(), temperature=self.temperature, name=f"{self.name}-truth")

    def annotator_oracles(self) -> list:
        """One exact oracle per annotator type (a single-type Bradley-Terry oracle each): the players' oracles
        of HT-MNPO, where every player learns from one type of annotator."""
        from preflab.oracles import AnnotatorMixture

        if self.reward is not None or not self.annotators:
            raise ValueError(f"task '{self.name}' has a single reward, no annotator types; give HT-MNPO's players "
                             "their oracles explicitly (params: oracles: [SPEC, ...])")
        return [AnnotatorMixture([self._utility_fn(k)], temperature=self.temperature, name=f"{self.name}-{k}")
                for k in self.annotators]

    def _utility_fn(self, annotator: str) -> Callable[[str, str], float]:
        return lambda prompt, response: self.utility(annotator, prompt, response)


def _values(**groups: Tuple[Sequence[str], float]) -> Dict[str, float]:
    return {w: v for words, v in groups.values() for w in words}


_ALL_WORDS = QUALITY + JUNK + STYLE["A"] + STYLE["B"] + STYLE["C"] + NEUTRAL
_BASE = {w: 2.5 for w in JUNK}                      # the SFT data over-use junk words


def _heterogeneous() -> WordTask:
    order = {"type_1": ("A", "B", "C"), "type_2": ("B", "C", "A"), "type_3": ("C", "A", "B")}
    annotators = {}
    for name, (first, second, third) in order.items():
        annotators[name] = _values(q=(QUALITY, 0.0), j=(JUNK, -1.5), n=(NEUTRAL, 0.0), a=(STYLE[first], 1.0),
                                   b=(STYLE[second], 0.0), c=(STYLE[third], -1.0))
    return WordTask("heterogeneous", "three annotator types who all dislike junk words but cycle on style: "
                    "intransitive", _ALL_WORDS, annotators, weights=[0.45, 0.35, 0.20], base_weights=_BASE,
                    topic_bonus=0.0)


def _transitive() -> WordTask:
    values = _values(q=(QUALITY, 1.0), j=(JUNK, -1.5), n=(NEUTRAL, 0.0), a=(STYLE["A"], 0.5), b=(STYLE["B"], 0.0),
                     c=(STYLE["C"], -0.5))
    return WordTask("transitive", "one annotator type: a Bradley-Terry model of one utility", _ALL_WORDS,
                    {"annotator": values}, base_weights=_BASE)


def _sentiment_reward(response: str) -> float:
    words = response.split()
    pos, neg = sum(w in POSITIVE for w in words), sum(w in NEGATIVE for w in words)
    return float(1.0 / (1.0 + np.exp(-2.0 * (pos - neg))))


def _sentiment() -> WordTask:
    words = POSITIVE + NEGATIVE + ["movie", "plot", "actor", "scene", "the", "and", "was", "very"]
    return WordTask("sentiment", "positive reviews: reward sigmoid(2 (positives - negatives)), as DiscoPOP's IMDb "
                    "task's classifier probability", words, reward=_sentiment_reward, temperature=0.1,
                    base_weights={w: 0.5 for w in POSITIVE + NEGATIVE}, topic_bonus=0.0)


TASKS: Dict[str, Callable[[], WordTask]] = {"transitive": _transitive, "heterogeneous": _heterogeneous,
                                            "sentiment": _sentiment}


def _instructions():
    from .instructions import InstructionTask
    return InstructionTask()


TASKS["instructions"] = _instructions


def get_task(name: str):
    """A built-in task by name: ``transitive``, ``heterogeneous``, ``sentiment`` (tiny word tasks) or
    ``instructions`` (SmolLM2-135M-Instruct with a programmatic judge)."""
    if name not in TASKS:
        raise ValueError(f"unknown task '{name}'; choose from {sorted(TASKS)}")
    return TASKS[name]()
