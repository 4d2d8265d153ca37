"""Special tokens (one BOS, EOS once), the truncation policy and its counts, the tokenizer's identity."""

from preflab.data import load_preferences
from preflab.data.tokenization import tokenizer_fingerprint

from .toy import BOS, CHATML, EOS, IM_END, IM_START, ids, toy_tokenizer

NL = 203


def pair(prompt, chosen="yes", rejected="no"):
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def chat(prompt, chosen="yes", rejected="no"):
    return {"prompt": [{"role": "user", "content": prompt}], "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}


def test_bos_once_when_the_prompt_already_has_it(tok):
    ds = load_preferences([pair("<s>Hi"), pair("<s><s>Hi"), pair("Hi"), pair(" <s>Hi")], tok, cache_dir=False)
    hi = ids(tok, "Hi")
    assert ds[0].prompt_ids == [BOS] + hi
    assert ds[1].prompt_ids == [BOS] + hi
    assert ds[2].prompt_ids == [BOS] + hi
    assert ds[3].prompt_ids == [BOS] + ids(tok, " ") + [BOS] + hi  # a BOS inside the text is the user's business


def test_no_bos_when_the_tokenizer_adds_none():
    tok = toy_tokenizer(bos=False)
    ds = load_preferences([pair("Hi"), pair("<s>Hi")], tok, cache_dir=False)
    assert ds[0].prompt_ids == ids(tok, "Hi")
    assert ds[1].prompt_ids == [BOS] + ids(tok, "Hi")  # the text's own BOS stays, once


def test_eos_appended_once_and_only_if_the_tokenizer_has_one(tok):
    ds = load_preferences([pair("Q", "yes</s>", "no")], tok, cache_dir=False)
    assert ds[0].completion_ids == [ids(tok, "yes") + [EOS], ids(tok, "no") + [EOS]]
    no_eos = toy_tokenizer(eos=False)
    ds = load_preferences([pair("Q", "yes", "no")], no_eos, cache_dir=False)
    assert ds[0].completion_ids == [ids(tok, "yes"), ids(tok, "no")]


def test_completion_has_no_bos(tok):
    ds = load_preferences([pair("Q", "yes", "no")], tok, cache_dir=False)
    assert BOS not in ds[0].completion_ids[0] + ds[0].completion_ids[1]


def test_conversational_bos_comes_from_the_template_once(tok):
    ds = load_preferences([chat("Hi")], tok, cache_dir=False)
    assert ds[0].prompt_ids[:3] == [BOS, IM_START, ids(tok, "u")[0]] and ds[0].prompt_ids.count(BOS) == 1
    # a template that puts BOS in front of a text that starts with it: still one
    doubled = toy_tokenizer(chat_template="{{ bos_token }}{% for m in messages %}{{ m['content'] }}\n{% endfor %}")
    ds = load_preferences([chat("<s>Hi")], doubled, cache_dir=False)
    assert ds[0].prompt_ids == [BOS] + ids(doubled, "Hi\n")
    # a template without BOS: conversational texts get no special tokens from the tokenizer either
    plain = toy_tokenizer(chat_template=CHATML.replace("{{ bos_token }}", ""))
    ds = load_preferences([chat("Hi")], plain, cache_dir=False)
    assert ds[0].prompt_ids[0] == IM_START and BOS not in ds[0].prompt_ids
    assert ds[0].completion_ids[0] == ids(plain, "yes") + [IM_END, NL]


def test_truncation_keeps_the_end_of_prompts_and_the_start_of_completions(tok):
    rows = [pair("abcdefgh", "0123456789", "xy"), pair("abc", "01", "xyz"), pair("abcdef", "0123", "x")]
    ds = load_preferences(rows, tok, max_prompt_length=4, max_completion_length=3, cache_dir=False)
    # prompt 1: [BOS] a..h is 9 ids -> its last 4; prompt 2: [BOS] a b c is exactly 4 -> kept
    assert ds[0].prompt_ids == ids(tok, "efgh")
    assert ds[1].prompt_ids == [BOS] + ids(tok, "abc")
    assert ds[2].prompt_ids == ids(tok, "cdef")
    # completions: "0123456789"+EOS -> "012" (EOS cut); "xy"+EOS is 3 -> kept; "01"+EOS kept; "xyz"+EOS -> "xyz"
    assert ds[0].completion_ids == [ids(tok, "012"), ids(tok, "xy") + [EOS]]
    assert ds[1].completion_ids == [ids(tok, "01") + [EOS], ids(tok, "xyz")]
    assert ds[2].completion_ids == [ids(tok, "012"), ids(tok, "x") + [EOS]]
    assert (ds.stats["truncated_prompts"], ds.stats["truncated_completions"]) == (2, 3)
    assert ds.stats["prompt_tokens_max"] == 4 and ds.stats["completion_tokens_max"] == 3
    assert ds.prompt_lengths().tolist() == [4, 4, 4]
    assert ds.completion_lengths().tolist() == [3, 3, 3, 3, 3, 2]


def test_truncation_of_conversations(tok):
    ds = load_preferences([chat("Hello there", "abcdefgh", "ab")], tok, max_prompt_length=5,
                          max_completion_length=4, cache_dir=False)
    assert ds[0].prompt_ids == ids(tok, "tant\n")  # the last 5 of "...<|im_start|>assistant\n"
    assert ds[0].completion_ids == [ids(tok, "abcd"), ids(tok, "ab") + [IM_END, NL]]
    assert (ds.stats["truncated_prompts"], ds.stats["truncated_completions"]) == (1, 1)


def test_no_truncation_without_limits(tok):
    ds = load_preferences([pair("a" * 500, "b" * 300, "c")], tok, cache_dir=False)
    assert len(ds[0].prompt_ids) == 501 and len(ds[0].completion_ids[0]) == 301
    assert (ds.stats["truncated_prompts"], ds.stats["truncated_completions"]) == (0, 0)


def test_tokenizer_fingerprint_sees_what_changes_ids():
    base = tokenizer_fingerprint(toy_tokenizer())
    assert tokenizer_fingerprint(toy_tokenizer()) == base  # rebuilt: the same identity
    assert tokenizer_fingerprint(toy_tokenizer(bos=False)) != base
    assert tokenizer_fingerprint(toy_tokenizer(eos=False)) != base
    assert tokenizer_fingerprint(toy_tokenizer(chat_template=CHATML + " ")) != base
    assert tokenizer_fingerprint(toy_tokenizer(extra_tokens=("<tool>",))) != base
    tok = toy_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<think>"]})
    assert tokenizer_fingerprint(tok) != base


class WordTokenizer:
    """Not a Hugging Face tokenizer: just the calls preflab.data makes (words to ids, BOS 1, EOS 2)."""

    bos_token_id, eos_token_id, chat_template = 1, 2, None

    def __init__(self):
        words = "<s> </s> <unk> what is two plus four five".split()
        self.vocab = {w: i + 1 for i, w in enumerate(words)}

    def get_vocab(self):
        return dict(self.vocab)

    def __call__(self, texts, add_special_tokens=True, **kwargs):
        def one(text):
            ids = [self.vocab.get(w, 3) for w in text.split()]
            return [self.bos_token_id] + ids if add_special_tokens else ids
        return {"input_ids": [one(t) for t in texts]}


def test_any_tokenizer_with_the_same_calls_works(tmp_path):
    tok = WordTokenizer()
    rows = [{"prompt": "<s> what is two plus two", "chosen": "four", "rejected": "five </s>"}]
    ds = load_preferences(rows, tok, cache_dir=tmp_path)
    what, four, five = tok.vocab["what"], tok.vocab["four"], tok.vocab["five"]
    assert ds[0].prompt_ids[:2] == [1, what] and ds[0].completion_ids == [[four, 2], [five, 2]]
    assert ds.tokenizer_name == "WordTokenizer"
    assert load_preferences(rows, tok, cache_dir=tmp_path).from_cache
