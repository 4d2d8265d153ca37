"""Kinds and styles: detection, overrides, and the ids of each (chat templates included)."""

import pytest

from preflab.data import DataError, DataWarning, load_preferences

from .conftest import fixture
from .toy import BOS, EOS, IM_END, IM_START, ids, toy_tokenizer

NL = 203  # "\n" in the byte tokenizer


def chat_ids(tok, messages, generation_prompt):
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    return ids(tok, text)


def test_unpaired(tok, cache):
    ds = load_preferences(fixture("unpaired.jsonl"), tok, cache_dir=cache)
    assert (ds.kind, ds.style, len(ds)) == ("unpaired", "standard", 3)
    assert [e.labels for e in ds] == [[1], [-1], [1]]
    assert [e.completion_ids for e in ds] == [[ids(tok, "4") + [EOS]], [ids(tok, "5") + [EOS]],
                                              [ids(tok, "Blue.") + [EOS]]]
    assert {e.ranks is None and e.scores is None for e in ds} == {True}


def test_listwise_ranks_with_ties(tok, cache):
    ds = load_preferences(fixture("lists.jsonl"), tok, cache_dir=cache)
    assert (ds.kind, [e.K for e in ds]) == ("listwise", [4, 2, 3])
    assert [e.ranks for e in ds] == [[0, 2, 0, 1], [0, 1], [1, 0, 1]]
    assert ds[0].completion_ids == [ids(tok, r) + [EOS] for r in ["4", "5", "four", "22"]]
    assert ds[0].scores is None and ds[0].labels is None
    assert ds.completions_per_example().tolist() == [4, 2, 3]


def test_listwise_ranks_from_scores(tok, cache):
    ds = load_preferences(fixture("scores.jsonl"), tok, cache_dir=cache)
    assert ds[0].scores == [0.9, 0.1, 0.9, 0.5]
    assert ds[0].ranks == [0, 3, 0, 2]  # a rank counts the strictly higher scores
    assert (ds[1].scores, ds[1].ranks) == ([2.0, -1.5], [0, 1])


def test_listwise_ranks_win_over_scores_and_scores_may_be_absent(tok, cache):
    rows = [{"prompt": "p", "responses": ["a", "b"], "ranks": [1, 0], "scores": [0.9, 0.1]},
            {"prompt": "q", "responses": ["a", "b"], "ranks": [0, 1], "scores": None},
            {"prompt": "r", "responses": ["a", "b"], "ranks": None, "scores": [0.2, 0.3]}]
    ds = load_preferences(rows, tok, cache_dir=cache)
    assert [(e.ranks, e.scores) for e in ds] == [([1, 0], [0.9, 0.1]), ([0, 1], None), ([1, 0], [0.2, 0.3])]


def test_conversational_pairs_apply_the_chat_template(tok, cache):
    ds = load_preferences(fixture("chat_pairs.jsonl"), tok, cache_dir=cache)
    assert (ds.kind, ds.style) == ("pairwise", "conversational")
    prompt = [{"role": "user", "content": "What is 2+2?"}]
    e = ds[0]
    assert e.prompt_ids == chat_ids(tok, prompt, True)
    assert e.prompt_ids[:2] == [BOS, IM_START] and e.prompt_ids[-1] == NL  # "<s><|im_start|>user...assistant\n"
    assert e.completion_ids == [ids(tok, "4") + [IM_END, NL], ids(tok, "5") + [IM_END, NL]]  # no EOS added
    for completion, answer in zip(e.completion_ids, ["4", "5"]):
        whole = prompt + [{"role": "assistant", "content": answer}]
        assert e.prompt_ids + completion == chat_ids(tok, whole, False)
    # a multi-turn prompt with a system message: the whole conversation so far is the prompt
    e = ds[1]
    assert tok.decode(e.prompt_ids) == ("<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                                        "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nName a color."
                                        "<|im_end|>\n<|im_start|>assistant\n")
    assert [tok.decode(c) for c in e.completion_ids] == ["Blue.<|im_end|>\n", "Seven.<|im_end|>\n"]


def test_conversational_lists_and_unpaired(tok, cache):
    lists = load_preferences(fixture("chat_lists.jsonl"), tok, cache_dir=cache)
    assert (lists.kind, lists.style, lists[0].ranks, lists[0].scores) == ("listwise", "conversational", [0, 2, 1],
                                                                        [1.0, 0.0, 0.5])
    assert [tok.decode(c) for c in lists[0].completion_ids] == ["4<|im_end|>\n", "5<|im_end|>\n", "22<|im_end|>\n"]
    unpaired = load_preferences(fixture("chat_unpaired.jsonl"), tok, cache_dir=cache)
    assert [(tok.decode(e.completion_ids[0]), e.labels) for e in unpaired] == [("4<|im_end|>\n", [1]),
                                                                             ("5<|im_end|>\n", [-1])]


def test_multi_message_response(tok, cache):
    rows = [{"prompt": [{"role": "user", "content": "Q"}],
             "chosen": [{"role": "assistant", "content": "a"}, {"role": "tool", "content": "t"},
                        {"role": "assistant", "content": "b"}],
             "rejected": [{"role": "assistant", "content": "c"}]}]
    ds = load_preferences(rows, tok, cache_dir=cache)
    assert tok.decode(ds[0].completion_ids[0]) == "a<|im_end|>\n<|im_start|>tool\nt<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n"


def test_kind_override_and_aliases(tok, cache):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b", "completion": "c", "label": False}]
    assert load_preferences(rows, tok, cache_dir=cache).kind == "pairwise"  # pairwise wins when both fit
    ds = load_preferences(rows, tok, kind="unpaired", cache_dir=cache)
    assert (ds.kind, ds[0].labels, ds[0].completion_ids) == ("unpaired", [-1], [ids(tok, "c") + [EOS]])
    assert load_preferences(rows, tok, kind="paired", cache_dir=cache).kind == "pairwise"
    with pytest.raises(DataError, match=r"kind='ranked' is not one of \['pairwise', 'listwise', 'unpaired'\]"):
        load_preferences(rows, tok, kind="ranked", cache_dir=cache)
    with pytest.raises(DataError, match=r"rows: listwise data needs the columns 'responses', 'ranks' or 'scores', "
                                        r"but the columns are \['prompt', 'chosen'"):
        load_preferences(rows, tok, kind="listwise", cache_dir=cache)


def test_undetectable_kind(tok, cache):
    with pytest.raises(DataError, match=r"rows: cannot tell the kind of preference data from its columns "
                                        r"\['question', 'good', 'bad'\]: pairwise data has 'prompt', 'chosen', "
                                        r"'rejected'.*pass kind=\.\.\."):
        load_preferences([{"question": "q", "good": "a", "bad": "b"}], tok, cache_dir=cache)


def test_style_override(tok, cache):
    # strings read as conversational: every row is named, and the message says the styles differ
    with pytest.raises(DataError) as err:
        load_preferences(fixture("pairs.jsonl"), tok, style="conversational", cache_dir=cache)
    assert len(err.value.problems) == 12  # prompt, chosen, rejected of 4 rows
    assert str(err.value.problems[0]).endswith(
        "pairs.jsonl: row 1, column 'prompt': expected a list of {'role', 'content'} messages (the data is "
        "conversational), got a string; every row must use the same style")
    with pytest.raises(DataError, match=r"style='chat' is not one of \['standard', 'conversational'\]"):
        load_preferences(fixture("pairs.jsonl"), tok, style="chat", cache_dir=cache)


def test_style_is_detected_past_missing_prompts(tok, cache):
    rows = [{"prompt": None, "chosen": [{"role": "assistant", "content": "a"}], "rejected": None},
            {"prompt": [{"role": "user", "content": "Q"}], "chosen": [{"role": "assistant", "content": "a"}],
             "rejected": [{"role": "assistant", "content": "b"}]}]
    with pytest.warns(DataWarning, match=r"rows: skipped 1 bad row\(s\) of 2"):
        ds = load_preferences(rows, tok, skip_bad_rows=True, cache_dir=cache)
    assert (ds.style, len(ds), ds[0].index, ds.stats["skipped_rows"]) == ("conversational", 1, 1, 1)


def test_conversational_needs_a_chat_template(cache):
    with pytest.raises(DataError, match=r"chat_pairs\.jsonl: the data is conversational \(lists of messages\), but "
                                        r"the tokenizer .* has no chat template; set tokenizer\.chat_template"):
        load_preferences(fixture("chat_pairs.jsonl"), toy_tokenizer(chat_template=None), cache_dir=cache)


def test_template_that_does_not_keep_the_prompt_as_prefix(cache):
    # a template that renders the last user turn differently once an answer follows it
    template = ("{% for m in messages %}{% if loop.last and not add_generation_prompt %}[final]{% endif %}"
                "{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}")
    with pytest.raises(DataError) as err:
        load_preferences(fixture("chat_pairs.jsonl"), toy_tokenizer(chat_template=template), cache_dir=cache)
    first = str(err.value.problems[0])
    assert first.startswith(f"{fixture('chat_pairs.jsonl')}: row 1, column 'chosen': the chat template does not "
                            "render the prompt as a prefix of prompt + response, so the response tokens cannot be "
                            "separated")
    assert "they differ at character" in first and "use a template that renders earlier turns the same" in first
    assert [p.row for p in err.value.problems] == [0, 1]


def test_template_that_raises_is_a_row_problem(cache):
    template = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system messages') }}"
                "{% endif %}{{ m['content'] }}{% endfor %}")
    rows = [{"prompt": [{"role": "user", "content": "Q"}], "chosen": [{"role": "assistant", "content": "a"}],
             "rejected": [{"role": "assistant", "content": "b"}]},
            {"prompt": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
             "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}]
    with pytest.raises(DataError) as err:
        load_preferences(rows, toy_tokenizer(chat_template=template), cache_dir=cache)
    assert [(p.row, p.column) for p in err.value.problems] == [(1, "chosen")]
    assert "the chat template fails on this conversation: no system messages" in str(err.value)
    with pytest.warns(DataWarning, match=r"row 2 \(index 1\), column 'chosen': the chat template fails"):
        ds = load_preferences(rows, toy_tokenizer(chat_template=template), skip_bad_rows=True, cache_dir=cache)
    assert [e.index for e in ds] == [0]


def test_pairwise_scores_are_read_when_both_columns_exist(tmp_path):
    from preflab.data import DataError, load_preferences

    from .toy import toy_tokenizer

    rows = [{"prompt": "a", "chosen": "b", "rejected": "c", "score_chosen": 0.9, "score_rejected": 0.2}]
    ds = load_preferences(rows, toy_tokenizer(), cache_dir=False)
    assert ds[0].scores == [0.9, 0.2] and ds[0].ranks == [0, 1]
    plain = load_preferences([{"prompt": "a", "chosen": "b", "rejected": "c"}], toy_tokenizer(), cache_dir=False)
    assert plain[0].scores is None
    with pytest.raises(DataError, match=r"row 1 \(index 0\), column 'score_chosen': score_rejected is 'x'"):
        load_preferences([{**rows[0], "score_rejected": "x"}], toy_tokenizer(), cache_dir=False)
