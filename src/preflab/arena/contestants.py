"""Contestants of an arena run: something that answers a list of prompts. A source is

- ``tiny`` or ``tiny:SEED``: a seeded tiny Llama (2 layers) over UTF-8 bytes, for smoke runs in seconds
  (its answers are noise: an arena of them tests the machinery, not the models);
- ``smollm2``: the bundled SmolLM2-135M-Instruct; any other text: a local model folder or checkpoint (or a
  Hub id when online), loaded by :func:`preflab.models.load_model`, prompted through its chat template
  when the tokenizer has one.

``NAME=SOURCE`` names a contestant; otherwise its name is the source. Generation is
:func:`preflab.online.rollout.sample` (seeded, one sample per prompt).

>>> parse_contestants("a=tiny:1, tiny:2 ,smollm2")
{'a': 'tiny:1', 'tiny:2': 'tiny:2', 'smollm2': 'smollm2'}

``load_contestant("tiny:1", max_new_tokens=5)(["Hi", "Why?"])`` gives two (noisy) answers; it loads torch and
transformers, so it is exercised by ``tests/arena/test_cli.py`` rather than here.
"""

from __future__ import annotations

import re
from typing import Callable

__all__ = ["parse_contestants", "load_contestant"]

_BYTE_EOS, _BYTE_PAD = 256, 257


def parse_contestants(text: str) -> dict:
    """``"a=SRC,SRC2"`` -> ``{name: source}`` (in order); duplicate names or empty entries are errors."""
    out = {}
    for k, item in enumerate(x.strip() for x in text.split(",")):
        if not item:
            raise ValueError(f"--models entry {k + 1} is empty; give a comma list like tiny:1,tiny:2 or a=PATH,b=PATH")
        name, _, source = item.partition("=") if "=" in item else (item, "", item)
        name, source = name.strip(), source.strip()
        if not name or not source:
            raise ValueError(f"--models entry {item!r}: expected NAME=SOURCE or SOURCE")
        if name in out:
            raise ValueError(f"--models names {name!r} twice; name contestants NAME=SOURCE to tell them apart")
        out[name] = source
    if len(out) < 2:
        raise ValueError(f"an arena needs at least two models, got {list(out)}")
    return out


def _byte_model(seed: int):
    from preflab.models import tiny_llama

    model = tiny_llama(vocab_size=258, seed=seed)

    def encode(prompt: str) -> list:
        return list(prompt.encode("utf-8"))[-200:] or [32]

    def decode(ids) -> str:
        return bytes(t for t in ids if t < 256).decode("utf-8", errors="ignore")

    return model, encode, decode, _BYTE_EOS, _BYTE_PAD


def _hf_model(source: str):
    from preflab.models import load_model, load_tokenizer

    model, tok = load_model(source), load_tokenizer(source)
    eos = tok.eos_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos

    def encode(prompt: str) -> list:
        if getattr(tok, "chat_template", None):      # (tokenize=True returns a BatchEncoding in transformers 5)
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                           tokenize=False)
            return tok(text, add_special_tokens=False)["input_ids"]
        return tok(prompt)["input_ids"]

    def decode(ids) -> str:
        return tok.decode(ids, skip_special_tokens=True).strip()

    return model, encode, decode, eos, pad


def load_contestant(source: str, max_new_tokens: int = 64, temperature: float = 0.7, seed: int = 0,
                    batch_size: int = 16) -> Callable[[list], list]:
    """A function prompts -> answers for the model that ``source`` names (see the module docstring)."""
    from preflab.online.rollout import sample

    m = re.fullmatch(r"tiny(?::(\d+))?", source.strip())
    model, encode, decode, eos, pad = _byte_model(int(m.group(1) or 0)) if m else _hf_model(source)

    def answer(prompts):
        ids = [encode(p) for p in prompts]
        out = sample(model, ids, 1, max_new_tokens=max_new_tokens, eos_id=eos, pad_id=pad,
                     temperature=temperature, seed=seed, batch_size=batch_size)
        return [decode(o[0]) for o in out]

    return answer
