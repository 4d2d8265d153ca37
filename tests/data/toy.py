"""A byte-level tokenizer built offline for the data tests: every UTF-8 byte is one token.

Ids 0-4 are the special tokens ``<s>`` (BOS, added in front of every text tokenized with special
tokens), ``</s>`` (EOS), ``<pad>``, ``<|im_start|>`` and ``<|im_end|>``; the 256 byte tokens follow.
A text of n bytes is n ids, which keeps the expected numbers of the tests easy to read.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIALS = ["<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]
BOS, EOS, PAD, IM_START, IM_END = range(5)

CHATML = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def toy_tokenizer(*, bos: bool = True, eos: bool = True, chat_template: str | None = CHATML,
                  extra_tokens: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """The byte tokenizer; ``bos=False``: adds no BOS; ``eos=False``: has no EOS token."""
    vocab = {t: i for i, t in enumerate(SPECIALS + sorted(pre_tokenizers.ByteLevel.alphabet()) + list(extra_tokens))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(SPECIALS + list(extra_tokens))
    if bos:
        core.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", BOS)]
        )
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>" if eos else None,
                                  pad_token="<pad>")
    tok.chat_template = chat_template
    return tok


def ids(tok, text: str) -> list[int]:
    """``text`` tokenized without special tokens."""
    return tok(text, add_special_tokens=False)["input_ids"]
