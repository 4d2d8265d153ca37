"""Texts to token ids: special tokens, BOS and EOS, truncation, and the tokenizer's identity.

Standard style (strings):

* the prompt is tokenized with the tokenizer's special tokens (its BOS, if it adds one);
* a response is tokenized without special tokens, and the EOS token is appended if the tokenizer has
  one and the response does not already end with it.

Conversational style: the chat template has rendered the texts (``chat_template``) and carries the BOS
token and the end-of-turn marker, so prompt and response are tokenized without special tokens and no
EOS is appended (a template's end of turn is where a response ends).

Never a double BOS: a prompt whose ids begin with BOS twice (the text began with the BOS token and the
tokenizer added another, or a template put one before a system message that had one) keeps one.

Truncation: a prompt longer than ``max_prompt_length`` keeps its **last** tokens (left truncation: the
end of the prompt is what the response answers; a BOS at the front is cut with the rest); a response
longer than ``max_completion_length`` keeps its **first** tokens (its EOS is cut too, so a truncated
response does not teach the model to stop there).

Tokenization is batched: one call of a fast tokenizer encodes thousands of texts in Rust threads.

>>> drop_double_bos([1, 1, 7, 8], bos=1), drop_double_bos([1, 7], bos=1), drop_double_bos([7, 1], bos=1)
([1, 7, 8], [1, 7], [7, 1])
>>> truncate([1, 2, 3, 4, 5], 3, keep="last"), truncate([1, 2, 3, 4, 5], 3, keep="first")
([3, 4, 5], [1, 2, 3])
>>> append_eos([5, 6], eos=2), append_eos([5, 2], eos=2), append_eos([5, 6], eos=None)
([5, 6, 2], [5, 2], [5, 6])
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

__all__ = [
    "encode_prompts", "encode_completions", "drop_double_bos", "append_eos", "truncate",
    "tokenizer_fingerprint", "tokenizer_name",
]

# Texts whose ids, with and without special tokens, pin down behaviour that lives outside the vocabulary
# (a Python-side add_bos_token, a normalizer): part of the tokenizer's fingerprint.
_PROBES = ("Hello, world! 2+2=4.", "  leading spaces\nand a new line\t tab", "ÄÖÜ ß é 漢字 🙂")


def encode_prompts(tokenizer: Any, texts: list[str], *, conversational: bool) -> list[list[int]]:
    """Prompt ids: with the tokenizer's special tokens for standard text, none for rendered chats; one BOS."""
    bos = getattr(tokenizer, "bos_token_id", None)
    return [drop_double_bos(ids, bos) for ids in _encode(tokenizer, texts, add_special_tokens=not conversational)]


def encode_completions(tokenizer: Any, texts: list[str], *, conversational: bool) -> list[list[int]]:
    """Response ids: no special tokens; EOS appended for standard text (the chat template ends a turn itself)."""
    ids = _encode(tokenizer, texts, add_special_tokens=False)
    if conversational:
        return ids
    eos = getattr(tokenizer, "eos_token_id", None)
    return [append_eos(x, eos) for x in ids]


def drop_double_bos(ids: list[int], bos: Optional[int]) -> list[int]:
    """``ids`` with a run of BOS tokens at the front cut to one."""
    if bos is None:
        return ids
    n = 0
    while n + 1 < len(ids) and ids[n] == bos and ids[n + 1] == bos:
        n += 1
    return ids[n:] if n else ids


def append_eos(ids: list[int], eos: Optional[int]) -> list[int]:
    """``ids`` ending with EOS (when the tokenizer has one)."""
    if eos is None or (ids and ids[-1] == eos):
        return ids
    return ids + [eos]


def truncate(ids: list[int], max_length: Optional[int], *, keep: str) -> list[int]:
    """At most ``max_length`` ids: the ``"last"`` ones (prompts) or the ``"first"`` ones (responses)."""
    if max_length is None or len(ids) <= max_length:
        return ids
    return ids[len(ids) - max_length:] if keep == "last" else ids[:max_length]


def _encode(tokenizer: Any, texts: list[str], *, add_special_tokens: bool) -> list[list[int]]:
    """Ids of ``texts`` in one batched call; each distinct text is tokenized once (prompts repeat)."""
    if not texts:
        return []
    unique = list(dict.fromkeys(texts))
    out = tokenizer(unique, add_special_tokens=add_special_tokens, return_attention_mask=False,
                    return_token_type_ids=False, verbose=False)
    ids = [x if isinstance(x, list) else list(x) for x in out["input_ids"]]
    if len(unique) == len(texts):
        return ids
    by_text = dict(zip(unique, ids))
    return [by_text[t] for t in texts]


def tokenizer_name(tokenizer: Any) -> str:
    """The name a person knows the tokenizer by: its Hub id or path, else its class."""
    return str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of everything that decides the ids: vocabulary, merges, normalizer, special tokens, chat template.

    For a fast tokenizer the whole Rust tokenizer (its JSON) is hashed; for another, the vocabulary.
    The ids of a few probe texts are hashed too, to catch behaviour that lives in Python. The name or
    path is not: the same tokenizer saved in two places shares a cache.
    """
    h = hashlib.sha256()

    def add(label: str, value: Any) -> None:
        h.update(label.encode() + b"\0" + json.dumps(value, sort_keys=True, default=repr).encode() + b"\0")

    add("class", f"{type(tokenizer).__module__}.{type(tokenizer).__qualname__}")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str"):
        h.update(backend.to_str().encode())
    elif hasattr(tokenizer, "get_vocab"):
        add("vocab", sorted(tokenizer.get_vocab().items()))
    special = ("bos_token", "eos_token", "pad_token", "unk_token", "bos_token_id", "eos_token_id", "pad_token_id")
    add("special", {k: _plain(getattr(tokenizer, k, None)) for k in special})
    add("all_special", sorted(map(str, getattr(tokenizer, "all_special_tokens", []) or [])))
    add("chat_template", getattr(tokenizer, "chat_template", None))
    add("probes", [_encode(tokenizer, list(_PROBES), add_special_tokens=flag) for flag in (True, False)])
    return h.hexdigest()


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int)) else str(value)
