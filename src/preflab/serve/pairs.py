"""Battle candidates for the voting page: prompts with responses by model, and seeded draws of anonymous pairs.

A candidate file is jsonl, one prompt a line with two or more models' responses::

    {"prompt": "Name a prime.", "responses": {"model-x": "7", "model-y": "9 is prime", "model-z": "2"}}

A draw picks a prompt uniformly, then one of its model pairs uniformly, then the order of the two models and
which of them is shown first (as A) by fair coins; all from one generator seeded at start.

>>> source = PairSource([Candidate("Name a prime.", {"x": "7", "y": "9", "z": "2"})], seed=0)
>>> pair = source.draw()
>>> pair.model_a, pair.model_b, pair.shown_a_first, pair.shown()
('z', 'y', True, ('2', '9'))
>>> pair.winner_of("A"), pair.winner_of("B"), pair.winner_of("bothbad")      # A was shown z's response
('model_a', 'model_b', 'tie (bothbad)')
>>> PairSource.from_lines(['{"prompt": "q", "responses": {"x": "1"}}'], where="cands.jsonl")
Traceback (most recent call last):
...
ValueError: cands.jsonl:1: key 'responses' has 1 model ('x'); a battle needs responses from at least two models
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

__all__ = ["Candidate", "Pair", "PairSource"]


@dataclass(frozen=True)
class Candidate:
    """A prompt and each model's response to it."""

    prompt: str
    responses: Dict[str, str]


@dataclass(frozen=True)
class Pair:
    """Two models' responses to one prompt, and whether ``model_a``'s response is shown first (as A)."""

    prompt: str
    model_a: str
    model_b: str
    response_a: str
    response_b: str
    shown_a_first: bool

    def shown(self) -> Tuple[str, str]:
        """(the response shown as A, the response shown as B)."""
        return (self.response_a, self.response_b) if self.shown_a_first else (self.response_b, self.response_a)

    def winner_of(self, vote: str) -> str:
        """The store's winner for a vote on the shown order: ``A``, ``B``, ``tie`` or ``bothbad``."""
        if vote == "tie":
            return "tie"
        if vote == "bothbad":
            return "tie (bothbad)"
        left_is_a = self.shown_a_first
        if vote == "A":
            return "model_a" if left_is_a else "model_b"
        if vote == "B":
            return "model_b" if left_is_a else "model_a"
        raise ValueError(f"vote {vote!r} is not one of 'A', 'B', 'tie', 'bothbad'")


def _candidate(record, where: str) -> Candidate:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object with 'prompt' and 'responses', got {type(record).__name__}")
    prompt, responses = record.get("prompt"), record.get("responses")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}: key 'prompt' must be a non-empty string, got {prompt!r:.80}")
    if not isinstance(responses, dict):
        raise ValueError(f"{where}: key 'responses' must be an object mapping model name to response text, "
                         f"got {type(responses).__name__}")
    for model, text in responses.items():
        if not model.strip():
            raise ValueError(f"{where}: key 'responses' holds an empty model name; name every model")
        if not isinstance(text, str):
            raise ValueError(f"{where}: key 'responses.{model}' must be a string, got {type(text).__name__}")
    if len(responses) < 2:
        names = ", ".join(repr(m) for m in responses)
        raise ValueError(f"{where}: key 'responses' has {len(responses)} model{'s' if len(responses) != 1 else ''} "
                         f"({names}); a battle needs responses from at least two models")
    return Candidate(prompt, dict(responses))


class PairSource:
    """Draws :class:`Pair` s from candidates, thread-safely, from a generator seeded with ``seed``."""

    def __init__(self, candidates: Sequence[Candidate], *, seed: int = 0):
        if not candidates:
            raise ValueError("no battle candidates: give at least one prompt with responses from two models")
        self.candidates: List[Candidate] = list(candidates)
        self._pairs = [list(itertools.combinations(sorted(c.responses), 2)) for c in self.candidates]
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    @classmethod
    def from_lines(cls, lines: Iterable[str], *, where: str = "<lines>", seed: int = 0) -> "PairSource":
        candidates = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}:{number}: not valid JSON ({err.msg} at column {err.colno}); each line "
                                 'must be {"prompt": ..., "responses": {"model": "text", ...}}') from None
            candidates.append(_candidate(record, f"{where}:{number}"))
        if not candidates:
            raise ValueError(f"{where}: holds no battle candidates; write one JSON object a line with 'prompt' and "
                             "'responses'")
        return cls(candidates, seed=seed)

    @classmethod
    def from_jsonl(cls, path, *, seed: int = 0) -> "PairSource":
        """Candidates from a jsonl file; a bad line raises ValueError naming ``path:line`` and the key."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"battle-candidate file {path} does not exist; pass a jsonl file of "
                             '{"prompt": ..., "responses": {"model": "text", ...}} lines')
        with path.open(encoding="utf-8") as f:
            return cls.from_lines(f, where=str(path), seed=seed)

    def models(self) -> List[str]:
        return sorted({m for c in self.candidates for m in c.responses})

    def draw(self) -> Pair:
        with self._lock:
            i = int(self._rng.integers(len(self.candidates)))
            first, second = self._pairs[i][int(self._rng.integers(len(self._pairs[i])))]
            if self._rng.random() < 0.5:
                first, second = second, first
            shown_a_first = bool(self._rng.random() < 0.5)
        c = self.candidates[i]
        return Pair(c.prompt, first, second, c.responses[first], c.responses[second], shown_a_first)
