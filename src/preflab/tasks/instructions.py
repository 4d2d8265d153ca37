"""Instructions with checkable constraints, for the real SmolLM2-135M-Instruct: a programmatic judge.

Each prompt asks for a short answer about a topic under three constraints: include a keyword, stay within a
word limit, and end with a period. The judge's reward is the fraction of constraints met, minus nothing else;
preferences are Bradley-Terry on that reward at temperature 0.1 (a response meeting one more constraint wins
about 96 % of the time).

>>> task = InstructionTask()
>>> p = task.instructions[0]
>>> p.text
"Write one sentence about the sea that uses the word 'blue'. Use at most 12 words."
>>> task.judge(p, "The sea is blue and calm today."), task.judge(p, "Waves crash on rocks")
(1.0, 0.3333333333333333)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Tuple

__all__ = ["Instruction", "InstructionTask"]

TOPICS = [("the sea", "blue"), ("a cat", "soft"), ("the moon", "night"), ("bread", "warm"), ("a city", "busy"),
          ("winter", "snow"), ("a garden", "green"), ("music", "loud")]


@dataclass(frozen=True)
class Instruction:
    topic: str
    keyword: str
    max_words: int

    @property
    def text(self) -> str:
        return (f"Write one sentence about {self.topic} that uses the word '{self.keyword}'. "
                f"Use at most {self.max_words} words.")


class InstructionTask:
    """The task the online loop runs with ``--model smollm2``: chat-formatted prompts, no SFT stage (the
    instruct model is the starting policy), and an exact programmatic judge."""

    name = "instructions"
    pretrained = True
    reward = True                   # evaluation reports the mean judge score
    max_new_tokens = 32
    temperature = 0.1

    def __init__(self, max_words: Tuple[int, ...] = (12, 8)):
        self.instructions = [Instruction(t, k, n) for n in max_words for t, k in TOPICS]
        self._tok = None
        self._by_prompt: Dict[str, Instruction] = {}

    def tokenizer(self):
        if self._tok is None:
            from preflab.models import load_tokenizer
            self._tok = load_tokenizer("smollm2")
        return self._tok

    def model(self, seed: int = 0):
        from preflab.models import load_model
        return load_model("smollm2")

    def prompts(self) -> List[str]:
        """The instructions rendered with SmolLM2's chat template, ready for generation."""
        tok = self.tokenizer()
        out = []
        for ins in self.instructions:
            text = tok.apply_chat_template([{"role": "user", "content": ins.text}], tokenize=False,
                                           add_generation_prompt=True)
            self._by_prompt[text] = ins
            out.append(text)
        return out

    def sft_examples(self, n: int, seed: int = 0):
        return []

    @staticmethod
    def judge(ins: Instruction, response: str) -> float:
        """Fraction of the three constraints met: the keyword (as a word), the word limit, a final period."""
        words = re.findall(r"[A-Za-z']+", response)
        checks = [ins.keyword.lower() in (w.lower() for w in words), 0 < len(words) <= ins.max_words,
                  response.strip().endswith(".")]
        return sum(checks) / len(checks)

    def score(self, prompt: str, response: str) -> float:
        if not self._by_prompt:
            self.prompts()
        if prompt not in self._by_prompt:
            raise ValueError("the instruction judge only scores prompts from InstructionTask.prompts()")
        return self.judge(self._by_prompt[prompt], response)

    def oracle(self):
        from preflab.oracles import RewardOracle
        return RewardOracle(self.score, temperature=self.temperature, name="instructions-judge")
