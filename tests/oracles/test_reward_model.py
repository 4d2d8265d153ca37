"""RewardModelOracle on tiny randomly initialized sequence classifiers built from configs (no download): its
rewards equal the model's own logits computed one text at a time, with and without a chat template, from a
model object and from a saved folder."""

import numpy as np
import pytest
import torch

from preflab.models.seeding import seeded
from preflab.oracles import OracleError, RewardModelOracle

from .checks import assert_valid_prefs

WORDS = ("the a cat dog sat on mat ran fast slow is good bad answer question what why how please thanks "
         "very < > / user assistant").split()


def word_tokenizer(cls_sep: bool):
    """A word-level fast tokenizer over WORDS, built with the tokenizers library."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {w: i for i, w in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if cls_sep:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")


def tiny_llama_classifier(pad_token_id=0, seed=0):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    config = LlamaConfig(vocab_size=len(WORDS) + 4, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, num_labels=1, pad_token_id=pad_token_id)
    with seeded(seed):
        return LlamaForSequenceClassification(config).eval()


def tiny_bert_classifier(seed=1):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=len(WORDS) + 4, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_labels=2, pad_token_id=0)
    with seeded(seed):
        return BertForSequenceClassification(config).eval()


PROMPTS = ["what is the cat ", "why ", "how good is the dog ", "please answer ", "the question "]
RESPONSES = ["the cat sat on the mat", "good", "very very good dog ran fast", "thanks", "a bad answer is bad"]


def direct(model, tokenizer, texts, special=True):
    """The model's logits for each text alone: no padding, no batching."""
    out = []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(text, add_special_tokens=special, return_tensors="pt")["input_ids"]
            out.append(model(input_ids=ids).logits[0].double().numpy())
    return np.array(out)


def test_llama_rewards_equal_the_logits_of_each_text_alone():
    model, tok = tiny_llama_classifier(), word_tokenizer(cls_sep=False)
    oracle = RewardModelOracle(model, tok, batch_size=3, temperature=0.7)
    r = oracle.score(PROMPTS, RESPONSES)
    want = direct(model, tok, [p + r for p, r in zip(PROMPTS, RESPONSES)])[:, 0]
    np.testing.assert_allclose(r, want, atol=1e-5)          # padded batches of 3, sorted by length
    assert np.ptp(r) > 1e-3                                 # the rewards differ: the check has teeth
    p = oracle.compare(PROMPTS[:2], RESPONSES[:2], RESPONSES[2:4])
    r2 = oracle.score(PROMPTS[:2], RESPONSES[2:4])
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(r[:2] - r2) / 0.7)), atol=1e-6)   # batch mates differ: float32 noise
    P = oracle.prefs("q", RESPONSES)
    assert_valid_prefs(P, 5)


def test_chat_template_is_used_when_the_tokenizer_has_one():
    model, tok = tiny_llama_classifier(), word_tokenizer(cls_sep=False)
    tok.chat_template = "{% for m in messages %}< {{ m['role'] }} > {{ m['content'] }} < / {{ m['role'] }} > {% endfor %}"
    oracle = RewardModelOracle(model, tok, batch_size=2)
    rendered = [f"< user > {p} < / user > < assistant > {r} < / assistant > " for p, r in zip(PROMPTS, RESPONSES)]
    assert [oracle.format(p, r)[0] for p, r in zip(PROMPTS, RESPONSES)] == rendered
    r = oracle.score(PROMPTS, RESPONSES)
    np.testing.assert_allclose(r, direct(model, tok, rendered, special=False)[:, 0], atol=1e-5)
    plain = direct(model, tok, [p + r for p, r in zip(PROMPTS, RESPONSES)])[:, 0]
    assert np.max(np.abs(r - plain)) > 1e-3                 # and it makes a difference


def test_two_label_head_gives_the_logit_difference_and_loads_from_a_folder(tmp_path):
    model, tok = tiny_bert_classifier(), word_tokenizer(cls_sep=True)
    logits = direct(model, tok, [p + r for p, r in zip(PROMPTS, RESPONSES)])
    want = logits[:, 1] - logits[:, 0]
    np.testing.assert_allclose(RewardModelOracle(model, tok, batch_size=4).score(PROMPTS, RESPONSES), want, atol=1e-5)
    model.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    loaded = RewardModelOracle(str(tmp_path / "rm"), batch_size=2)
    assert loaded.name == f"reward_model:{tmp_path / 'rm'}"
    np.testing.assert_allclose(loaded.score(PROMPTS, RESPONSES), want, atol=1e-5)


def test_model_without_pad_id_runs_one_text_at_a_time():
    model, tok = tiny_llama_classifier(pad_token_id=None, seed=3), word_tokenizer(cls_sep=False)
    r = RewardModelOracle(model, tok, batch_size=8).score(PROMPTS, RESPONSES)
    np.testing.assert_allclose(r, direct(model, tok, [p + r for p, r in zip(PROMPTS, RESPONSES)])[:, 0], atol=1e-5)


def test_errors():
    from transformers import BertConfig, BertForSequenceClassification

    with seeded(0):
        three = BertForSequenceClassification(BertConfig(vocab_size=30, hidden_size=16, intermediate_size=32,
                                                         num_hidden_layers=1, num_attention_heads=2, num_labels=3))
    with pytest.raises(OracleError, match="num_labels=3"):
        RewardModelOracle(three, word_tokenizer(True))
    with pytest.raises(ValueError, match="pass tokenizer"):
        RewardModelOracle(tiny_bert_classifier())
    with pytest.raises(OracleError, match="cannot load a sequence classifier"):
        RewardModelOracle("/nonexistent/folder")
