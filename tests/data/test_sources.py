"""Every source form loads to the same examples; unknown sources fail with a message that says why."""

import gzip
import json
import shutil

import datasets
import pytest

from preflab.data import DataError, load_preferences, read_rows

from .conftest import fixture
from .toy import BOS, EOS, ids


def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def as_tuples(ds):
    return [(e.index, e.prompt_ids, e.completion_ids, e.ranks, e.scores, e.labels) for e in ds]


def test_pairs_tokenized_exactly(tok, cache):
    ds = load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache)
    assert (ds.kind, ds.style, len(ds)) == ("pairwise", "standard", 4)
    for e, row in zip(ds, rows_of(fixture("pairs.jsonl"))):
        assert e.prompt_ids == [BOS] + ids(tok, row["prompt"])
        assert e.completion_ids == [ids(tok, row["chosen"]) + [EOS], ids(tok, row["rejected"]) + [EOS]]
        assert (e.ranks, e.scores, e.labels) == ([0, 1], None, None)
    assert [e.index for e in ds] == [0, 1, 2, 3]
    assert ds[2].completion_ids[0] == [225, 52, 69, 86, 77, 87, EOS]  # " Paris": the leading space is kept


@pytest.mark.parametrize("kind_of_source", ["json", "csv", "parquet", "save_to_disk", "dataset_dict", "dataset",
                                            "list", "dict", "gzip"])
def test_every_source_gives_the_same_examples(tok, cache, tmp_path, kind_of_source):
    expected = as_tuples(load_preferences(fixture("pairs.jsonl"), tok, cache_dir=cache))
    rows = rows_of(fixture("pairs.jsonl"))
    table = datasets.Dataset.from_list(rows)
    split = "train"
    if kind_of_source in ("json", "csv"):
        source = fixture(f"pairs.{kind_of_source}")
    elif kind_of_source == "parquet":
        source = tmp_path / "pairs.parquet"
        table.to_parquet(str(source))
    elif kind_of_source == "save_to_disk":
        source = tmp_path / "saved"
        table.save_to_disk(str(source))
    elif kind_of_source == "dataset_dict":
        source = tmp_path / "saved_dict"
        datasets.DatasetDict({"train": table.select([0]), "test": table}).save_to_disk(str(source))
        split = "test"
    elif kind_of_source == "dataset":
        source = table
    elif kind_of_source == "list":
        source = rows
    elif kind_of_source == "dict":
        source = {k: [r[k] for r in rows] for k in rows[0]}
    else:
        source = tmp_path / "pairs.jsonl.gz"
        with gzip.open(source, "wb") as f:
            f.write(fixture("pairs.jsonl").read_bytes())
    assert as_tuples(load_preferences(source, tok, split=split, cache_dir=cache)) == expected


@pytest.mark.parametrize("kind", ["lists", "chat_pairs", "unpaired"])
def test_csv_with_json_cells_and_text_labels(tok, cache, kind):
    from_csv = load_preferences(fixture(f"{kind}.csv"), tok, cache_dir=cache)
    from_jsonl = load_preferences(fixture(f"{kind}.jsonl"), tok, cache_dir=cache)
    assert as_tuples(from_csv) == as_tuples(from_jsonl)
    assert from_csv.style == from_jsonl.style


def test_csv_cells_stay_text(tok, cache, tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("prompt,chosen,rejected\n2+2?,4,None\n3+3?,6,NA\n")
    ds = load_preferences(path, tok, cache_dir=cache)
    assert ds[0].completion_ids == [ids(tok, "4") + [EOS], ids(tok, "None") + [EOS]]
    assert ds[1].completion_ids[1] == ids(tok, "NA") + [EOS]


def test_listwise_and_conversational_through_parquet_and_disk(tok, cache, tmp_path):
    for name in ("lists", "scores", "chat_pairs", "chat_lists", "chat_unpaired"):
        expected = as_tuples(load_preferences(fixture(f"{name}.jsonl"), tok, cache_dir=cache))
        table = datasets.Dataset.from_list(rows_of(fixture(f"{name}.jsonl")))
        table.to_parquet(str(tmp_path / f"{name}.parquet"))
        table.save_to_disk(str(tmp_path / name))
        assert as_tuples(load_preferences(tmp_path / f"{name}.parquet", tok, cache_dir=cache)) == expected, name
        assert as_tuples(load_preferences(tmp_path / name, tok, cache_dir=cache)) == expected, name


def test_hub_name_goes_to_load_dataset(tok, cache, monkeypatch):
    calls = []

    def fake_load_dataset(name, split=None, cache_dir=None, **kw):
        calls.append((name, split))
        return datasets.Dataset.from_list(rows_of(fixture("pairs.jsonl")))

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ds = load_preferences("trl-lib/some-prefs", tok, split="test", cache_dir=cache)
    assert calls == [("trl-lib/some-prefs", "test")]
    assert len(ds) == 4 and ds.stats["source"] == "trl-lib/some-prefs [test]"


def test_hub_failure_says_what_was_tried(tok, cache):
    with pytest.raises(DataError, match=r"no-such-org/no-such-prefs: not a local file or folder, so it was read as "
                                        r"a Hugging Face Hub dataset, which failed"):
        load_preferences("no-such-org/no-such-prefs", tok, cache_dir=cache)


def test_bad_sources(tok, cache, tmp_path):
    with pytest.raises(DataError, match=r"missing\.jsonl: no such file or folder"):
        load_preferences(tmp_path / "missing.jsonl", tok, cache_dir=cache)
    with pytest.raises(DataError, match=r"missing\.jsonl: no such file or folder"):
        load_preferences("./missing.jsonl", tok, cache_dir=cache)
    (tmp_path / "prefs.txt").write_text("hello")
    with pytest.raises(DataError, match=r"prefs\.txt: unknown file type \.txt; preference data can be \.jsonl"):
        load_preferences(tmp_path / "prefs.txt", tok, cache_dir=cache)
    (tmp_path / "folder").mkdir()
    shutil.copy(fixture("pairs.jsonl"), tmp_path / "folder")
    with pytest.raises(DataError, match=r"folder: this folder was not written by datasets' save_to_disk"):
        load_preferences(tmp_path / "folder", tok, cache_dir=cache)
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows_of(fixture("pairs.jsonl")))}).save_to_disk(
        str(tmp_path / "dd"))
    with pytest.raises(DataError, match=r"dd: no split 'validation'; the splits are \['train'\]; pass split=\.\.\."):
        load_preferences(tmp_path / "dd", tok, split="validation", cache_dir=cache)
    with pytest.raises(DataError, match=r"cannot read preference data from a int"):
        load_preferences(3, tok, cache_dir=cache)
    with pytest.raises(DataError, match=r"a dict of columns needs lists of one length, got lengths"):
        load_preferences({"prompt": ["a", "b"], "chosen": ["c"], "rejected": ["d"]}, tok, cache_dir=False)


def test_read_rows_locates_rows(tmp_path):
    rows = read_rows(fixture("bad_pairs.jsonl"), datasets_cache=str(tmp_path))
    assert rows.num_rows == 9  # the blank line is not a row
    assert rows.locate([0, 3, 4, 8]) == {0: "row 1", 3: "row 4", 4: "row 5 (line 6)", 8: "row 9 (line 10)"}
    rows = read_rows(fixture("pairs.csv"), datasets_cache=str(tmp_path))
    # line 1 is the header; row 4's cell spans lines 5 and 6
    assert rows.locate([0, 3]) == {0: "row 1 (line 2)", 3: "row 4 (line 5)"}
    rows = read_rows(fixture("pairs.json"), datasets_cache=str(tmp_path))
    assert rows.locate([2]) == {2: "row 3"}
