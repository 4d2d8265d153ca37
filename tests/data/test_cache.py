"""Tokenize once: a second load reuses the cache; a change of data, tokenizer or settings tokenizes again."""

import shutil

import pytest

from preflab.data import DataWarning, load_preferences
from preflab.data.cache import FORMAT_VERSION, default_cache_dir
from preflab.data.tokenization import tokenizer_fingerprint

from .conftest import fixture
from .toy import CHATML, toy_tokenizer


@pytest.fixture
def counted(monkeypatch):
    """A fresh toy tokenizer whose class counts the texts it tokenizes and the chats it renders."""
    tok = toy_tokenizer()
    counts = {"texts": 0, "chats": 0}
    cls = type(tok)
    call, render = cls.__call__, cls.apply_chat_template

    def counting_call(self, text, *a, **kw):
        counts["texts"] += len(text) if isinstance(text, list) else 1
        return call(self, text, *a, **kw)

    def counting_render(self, conversation, *a, **kw):
        counts["chats"] += len(conversation) if conversation and isinstance(conversation[0], list) else 1
        return render(self, conversation, *a, **kw)

    monkeypatch.setattr(cls, "__call__", counting_call)
    monkeypatch.setattr(cls, "apply_chat_template", counting_render)
    before = counts["texts"]
    tokenizer_fingerprint(tok)
    counts["fingerprint"] = counts["texts"] - before  # what identifying the tokenizer costs, on a hit too
    counts["texts"] = 0
    return tok, counts


def same(a, b):
    return [(e.index, e.prompt_ids, e.completion_ids, e.ranks, e.scores, e.labels) for e in a] == \
           [(e.index, e.prompt_ids, e.completion_ids, e.ranks, e.scores, e.labels) for e in b]


def test_second_load_does_not_tokenize(counted, cache):
    tok, counts = counted
    first = load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache)
    assert not first.from_cache and counts["texts"] == counts["fingerprint"] + 4 + 8  # 4 prompts, 8 responses
    counts["texts"] = 0
    second = load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache)
    assert second.from_cache and counts["texts"] == counts["fingerprint"]  # only the tokenizer's identity
    assert same(first, second) and second.fingerprint == first.fingerprint and second.stats == first.stats
    assert (cache / first.fingerprint / "meta.json").is_file()


def test_second_load_does_not_render_chats(counted, cache):
    tok, counts = counted
    first = load_preferences(fixture("chat_pairs.jsonl"), tok, cache_dir=cache)
    assert counts["chats"] == 2 + 4  # 2 prompts, 4 prompt + response
    second = load_preferences(fixture("chat_pairs.jsonl"), tok, cache_dir=cache)
    assert counts["chats"] == 6 and second.from_cache and same(first, second)


def test_same_content_elsewhere_hits_and_changed_content_misses(counted, cache, tmp_path):
    tok, _ = counted
    first = load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache)
    copy = tmp_path / "copy.jsonl"
    shutil.copy(fixture("pairs.jsonl"), copy)
    assert load_preferences(copy, tok, cache_dir=cache).from_cache  # the content, not the path
    copy.write_text(copy.read_text().replace('"Blue."', '"Green."'))
    changed = load_preferences(copy, tok, cache_dir=cache)
    assert not changed.from_cache and changed.fingerprint != first.fingerprint
    assert changed[1].completion_ids[0] == tok("Green.", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]


def test_changed_tokenizer_misses(cache):
    rows = fixture("chat_pairs.jsonl")
    first = load_preferences(rows, toy_tokenizer(), cache_dir=cache)
    assert load_preferences(rows, toy_tokenizer(), cache_dir=cache).from_cache  # an equal tokenizer, rebuilt
    for other in (toy_tokenizer(chat_template=CHATML.replace("{{ bos_token }}", "")),
                  toy_tokenizer(bos=False), toy_tokenizer(extra_tokens=("<tool>",))):
        ds = load_preferences(rows, other, cache_dir=cache)
        assert not ds.from_cache and ds.fingerprint != first.fingerprint
    assert load_preferences(rows, toy_tokenizer(chat_template=CHATML.replace("{{ bos_token }}", "")),
                            cache_dir=cache)[0].prompt_ids[0] != first[0].prompt_ids[0]


@pytest.mark.parametrize("setting", [{"max_prompt_length": 8}, {"max_completion_length": 2}, {"kind": "pairwise"},
                                     {"style": "standard"}, {"skip_bad_rows": True}])
def test_changed_settings_miss(tok, cache, setting):
    first = load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache)
    ds = load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache, **setting)
    assert not ds.from_cache and ds.fingerprint != first.fingerprint
    assert load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache, **setting).from_cache


def test_in_memory_rows_are_cached_by_content(tok, cache):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    assert not load_preferences(rows, tok, cache_dir=cache).from_cache
    assert load_preferences([dict(r) for r in rows], tok, cache_dir=cache).from_cache
    assert not load_preferences([{"prompt": "p", "chosen": "a", "rejected": "c"}], tok, cache_dir=cache).from_cache


def test_skipped_rows_are_reported_on_a_hit_too(tok, cache):
    with pytest.warns(DataWarning, match="skipped 7 bad row"):
        first = load_preferences(fixture("bad_pairs.jsonl"), tok, skip_bad_rows=True, cache_dir=cache)
    with pytest.warns(DataWarning, match="skipped 7 bad row"):
        second = load_preferences(fixture("bad_pairs.jsonl"), tok, skip_bad_rows=True, cache_dir=cache)
    assert second.from_cache and second.stats == first.stats and same(first, second)


def test_damaged_entry_is_rebuilt(tok, cache):
    first = load_preferences(fixture("lists.jsonl"), tok, cache_dir=cache)
    (cache / first.fingerprint / "prompt_tokens.npy").write_bytes(b"not numpy")
    again = load_preferences(fixture("lists.jsonl"), tok, cache_dir=cache)
    assert not again.from_cache and same(first, again)
    assert load_preferences(fixture("lists.jsonl"), tok, cache_dir=cache).from_cache


def test_no_cache(tok, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "preflab" / "data"
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    assert not load_preferences(rows, tok, cache_dir=False).from_cache
    assert not load_preferences(rows, tok, cache_dir=False).from_cache
    assert not (tmp_path / "xdg").exists()
    load_preferences(rows, tok)  # the default folder
    assert load_preferences(rows, tok).from_cache and len(list((tmp_path / "xdg" / "preflab" / "data").iterdir())) == 1


def test_format_version_is_part_of_the_key(tok, cache, monkeypatch):
    first = load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache)
    monkeypatch.setattr("preflab.data.cache.FORMAT_VERSION", FORMAT_VERSION + 1)
    ds = load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache)
    assert not ds.from_cache and ds.fingerprint != first.fingerprint


def test_a_repeated_text_is_tokenized_once(counted):
    tok, counts = counted
    rows = [{"prompt": "What is 2+2?", "completion": c, "label": c == "4"} for c in ("4", "5", "4", "22")]
    ds = load_preferences(rows, tok, cache_dir=False)
    # 1 distinct prompt and 3 distinct completions, plus the tokenizer's identity
    assert counts["texts"] == counts["fingerprint"] + 1 + 3
    assert ds[0].prompt_ids == ds[3].prompt_ids and ds[0].completion_ids == ds[2].completion_ids
