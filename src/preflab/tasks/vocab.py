"""A word-level tokenizer for the synthetic tasks: one token per word, so a response of L words is L tokens
plus EOS, and a tiny model's vocabulary is a few dozen entries instead of SmolLM2's 49,152.

>>> tok = word_tokenizer(["t0", "t1", ":"], ["good", "bad"])
>>> tok("t1 :")["input_ids"], tok(" good bad", add_special_tokens=False)["input_ids"]
([1, 5, 6], [7, 8])
>>> tok.decode([1, 5, 6, 7, 2], skip_special_tokens=True)
't1 : good'
"""

from __future__ import annotations

from typing import Sequence

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]


def word_tokenizer(prompt_words: Sequence[str], response_words: Sequence[str]):
    """A ``PreTrainedTokenizerFast``: ids 0-3 are ``<pad> <s> </s> <unk>``, then the prompt words, then the
    response words; whitespace splits words; ``<s>`` starts every encoded prompt; decoding joins words
    with single spaces."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = list(SPECIALS) + list(prompt_words) + list(response_words)
    if len(set(words)) != len(words):
        raise ValueError("task vocabulary has repeated words")
    vocab = {w: i for i, w in enumerate(words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)     # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", model_max_length=512)
