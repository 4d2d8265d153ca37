"""Every malformed row is named by file, row and column; nothing proceeds unless bad rows are skipped."""

import pytest

from preflab.data import DataError, DataWarning, load_preferences

from .conftest import fixture

STYLE = "every row must use the same style"


def problems(source, tok, cache, **kw):
    with pytest.raises(DataError) as err:
        load_preferences(source, tok, cache_dir=cache, **kw)
    return err.value, [(p.location, p.column, p.message) for p in err.value.problems]


def test_bad_pairs(tok, cache):
    err, found = problems(fixture("bad_pairs.jsonl"), tok, cache)
    assert found == [
        ("row 2", "rejected", "missing value"),
        ("row 3", "chosen", "empty response"),
        ("row 4", "rejected", "expected a string, got 11 (a number)"),
        ("row 5 (line 6)", "rejected", "same as 'chosen'; a pair needs two different responses"),
        ("row 6 (line 7)", "prompt", "missing value"),
        ("row 7 (line 8)", "rejected", "empty response (only whitespace)"),
        ("row 8 (line 9)", "prompt", f"expected a string (the data is in the standard style), got a list; {STYLE}"),
    ]
    text = str(err)
    assert text.startswith(f"{fixture('bad_pairs.jsonl')}: 7 problems in 7 rows:\n")
    assert f"  {fixture('bad_pairs.jsonl')}: row 3, column 'chosen': empty response\n" in text
    assert text.endswith("Fix these rows, or pass skip_bad_rows=True to drop them (the count goes to the "
                         "dataset's stats).")
    assert isinstance(err, ValueError)


def test_bad_lists(tok, cache):
    _, found = problems(fixture("bad_lists.jsonl"), tok, cache)
    ints = "ranks are ints >= 0 (0 is best, equal ranks tie)"
    assert found == [
        ("row 2", "responses", "a list needs at least 2 responses, got 1"),
        ("row 3", "ranks", "2 ranks for 3 responses; give one rank per response"),
        ("row 4", "ranks", f"rank 2 is -1; {ints}"),
        ("row 5", "ranks", f"rank 1 is 1.5; {ints}"),
        ("row 6", "ranks", f"rank 2 is True; {ints}"),
        ("row 7", "responses", "response 2: empty response"),
        ("row 8", "ranks", "missing value; a list needs 'ranks' or 'scores'"),
        ("row 9", "responses", "expected a list of responses (strings), got a string"),
        ("row 10", "responses", "response 2: expected a string, got 2 (a number)"),
        ("row 11", "ranks", "expected a list of ints (0 is best), got a string"),
    ]


def test_bad_scores(tok, cache):
    _, found = problems(fixture("bad_scores.jsonl"), tok, cache)
    assert [f[:2] for f in found] == [("row 2", "scores"), ("row 3", "scores"), ("row 4", "scores")]
    assert found[0][2] == "1 scores for 2 responses; give one score per response"
    assert found[1][2] == "score 2 is 'high'; scores are finite numbers (higher is better)"
    assert found[2][2].startswith("score 1 is ")  # JSON's NaN
    rows = [{"prompt": "p", "responses": ["a", "b"], "scores": [float("inf"), 1.0]}]
    assert problems(rows, tok, cache)[1] == [("row 1 (index 0)", "scores",
                                              "score 1 is inf; scores are finite numbers (higher is better)")]


def test_bad_unpaired(tok, cache):
    _, found = problems(fixture("bad_unpaired.jsonl"), tok, cache)
    label = "label must be true or false (true: a desirable completion), got"
    assert found == [
        ("row 2", "label", f"{label} 1"),
        ("row 3", "label", f"{label} 'yes'"),
        ("row 4", "label", "missing value"),
        ("row 5", "completion", "empty response"),
    ]
    _, found = problems(fixture("bad_unpaired.csv"), tok, cache)  # TRUE and false are fine in a CSV; 1 is not
    assert found == [("row 2 (line 3)", "label", f"{label} '1'"), ("row 4 (line 5)", "completion", "empty response")]


def test_bad_messages(tok, cache):
    _, found = problems(fixture("bad_chat.jsonl"), tok, cache)
    assert found == [
        ("row 2", "prompt", "message 1 is a string, not a {'role', 'content'} mapping"),
        ("row 3", "prompt", "message 1 has no 'role'"),
        ("row 4", "chosen", "message 1 has no 'content'"),
        ("row 5", "chosen", "message 1: 'content' must be a string, got 3 (a number)"),
        ("row 6", "rejected", "message 1 has role 'user'; a response ends with an 'assistant' message"),
        ("row 7", "rejected", "empty response"),
        ("row 8", "prompt", f"expected a list of {{'role', 'content'}} messages (the data is conversational), got a "
                            f"string; {STYLE}"),
        ("row 9", "prompt", "empty conversation; a prompt needs at least one message"),
        ("row 10", "rejected", f"expected a list of {{'role', 'content'}} messages (the data is conversational), "
                               f"got a string; {STYLE}"),
        ("row 11", "rejected", "same as 'chosen'; a pair needs two different responses"),
        ("row 12", "chosen", "empty response (no messages)"),
    ]


def test_broken_json_lines_are_named(tok, cache):
    _, found = problems(fixture("broken.jsonl"), tok, cache)
    assert found == [("row 2", None, "not valid JSON: Expecting ',' delimiter (at character 48)"),
                     ("row 4", None, "expected a JSON object {...}, got an array")]
    with pytest.warns(DataWarning):
        ds = load_preferences(fixture("broken.jsonl"), tok, skip_bad_rows=True, cache_dir=cache)
    assert [e.index for e in ds] == [0, 2, 4]


def test_broken_json_array(tok, cache, tmp_path):
    path = tmp_path / "prefs.json"
    path.write_text('[{"prompt": "p", "chosen": "a", "rejected": "b"},\n {"prompt": "q",]')
    with pytest.raises(DataError, match=r"prefs\.json: not valid JSON: line 2 column 17: Expecting property name"):
        load_preferences(path, tok, cache_dir=cache)


def test_several_problems_in_one_row_are_all_listed(tok, cache):
    _, found = problems([{"prompt": 3, "chosen": "", "rejected": None}], tok, cache)
    assert found == [("row 1 (index 0)", "prompt", "expected a string, got 3 (a number)"),
                     ("row 1 (index 0)", "chosen", "empty response"),
                     ("row 1 (index 0)", "rejected", "missing value")]


def test_many_problems_show_the_first_twenty_and_count(tok, cache):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "a"}] * 30 + [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    err, found = problems(rows, tok, cache)
    assert len(found) == 30 and len(err.problems) == 30
    lines = str(err).splitlines()
    assert lines[0] == "rows: 30 problems in 30 rows; the first 20:"
    assert lines[20] == "  rows: row 20 (index 19), column 'rejected': same as 'chosen'; a pair needs two different responses"
    assert lines[21] == "  ... and 10 more"


def test_missing_column_for_the_whole_file(tok, cache, tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text('{"prompt": "p", "responses": ["a", "b"]}\n')
    with pytest.raises(DataError, match=r"prefs\.jsonl: listwise data needs the column 'ranks' or 'scores', but "
                                        r"the columns are \['prompt', 'responses'\]"):
        load_preferences(path, tok, kind="listwise", cache_dir=cache)


def test_skip_bad_rows_drops_counts_and_warns(tok, cache):
    with pytest.warns(DataWarning) as record:
        ds = load_preferences(fixture("bad_pairs.jsonl"), tok, skip_bad_rows=True, cache_dir=cache)
    assert [e.index for e in ds] == [0, 8]  # the good rows, by their 0-based position in the file
    assert ds.stats["source_rows"] == 9 and ds.stats["rows"] == 2 and ds.stats["skipped_rows"] == 7
    assert ds.stats["problem_count"] == 7 and len(ds.stats["problems"]) == 7
    message = str(record[0].message)
    assert message.startswith(f"{fixture('bad_pairs.jsonl')}: skipped 7 bad row(s) of 9 (skip_bad_rows=True); 2 remain:")
    assert "row 5 (line 6), column 'rejected': same as 'chosen'" in message
    # skipped rows are counted once however many problems they have
    with pytest.warns(DataWarning):
        ds = load_preferences([{"prompt": 3, "chosen": "", "rejected": None}, {"prompt": "p", "chosen": "a",
                               "rejected": "b"}], tok, skip_bad_rows=True, cache_dir=cache)
    assert (ds.stats["skipped_rows"], ds.stats["problem_count"], len(ds)) == (1, 3, 1)


def test_all_rows_bad(tok, cache):
    with pytest.raises(DataError, match=r"rows: no usable rows \(2 read, 2 bad\); there is nothing to train on"):
        load_preferences([{"prompt": "p", "chosen": "a", "rejected": "a"}] * 2, tok, skip_bad_rows=True,
                         cache_dir=cache)


def test_bad_settings(tok, cache):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}]
    for bad in (0, -3, 2.5, True):
        with pytest.raises(DataError, match=r"max_prompt_length must be a positive int or None"):
            load_preferences(rows, tok, max_prompt_length=bad, cache_dir=cache)
    with pytest.raises(DataError, match=r"max_completion_length must be a positive int or None"):
        load_preferences(rows, tok, max_completion_length="8", cache_dir=cache)


def test_content_parts_are_not_text(tok, cache):
    rows = [{"prompt": [{"role": "user", "content": [{"type": "text", "text": "Q"}]}],
             "chosen": [{"role": "assistant", "content": "a"}], "rejected": [{"role": "assistant", "content": "b"}]}]
    assert problems(rows, tok, cache)[1] == [("row 1 (index 0)", "prompt", "message 1: 'content' is a list of parts; "
                                              "only text content is supported, as one string (join the text parts)")]


def test_tokenizer_must_be_a_tokenizer(cache):
    with pytest.raises(DataError, match=r"tokenizer must be a Hugging Face tokenizer .*got str"):
        load_preferences([{"prompt": "p", "chosen": "a", "rejected": "b"}], "gpt2", cache_dir=cache)
