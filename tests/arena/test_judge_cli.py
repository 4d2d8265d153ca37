"""`preflab judge` with offline judges: output lines, lists, battle lines the store imports, the report, and
malformed input named by file:line and field."""

import json

import pytest

from preflab.arena.store import Store
from preflab.cli import main
from preflab.tasks import get_task

STYLES = ["formal formal", "casual casual", "vivid vivid"]


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pairs_and_lists_with_two_judges(tmp_path, capsys):
    pairs = [{"prompt": "t0 :", "response_a": STYLES[i], "response_b": STYLES[(i + 1) % 3],
              "model_a": f"m{i}", "model_b": f"m{(i + 1) % 3}"} for i in range(3)]
    lists = [{"prompt": "t1 :", "responses": ["formal", "casual casual", "vivid um um"], "models": ["f", "c", "v"]},
             {"prompt": "t2 :", "responses": ["a", "bbb", "cc"]}]
    inp = write(tmp_path / "in.jsonl", pairs + lists)
    out, report, battles = tmp_path / "out.jsonl", tmp_path / "report.json", tmp_path / "battles.jsonl"
    assert main(["judge", "--judge", "task:heterogeneous", "--judge", "length", "--in", str(inp), "--out", str(out),
                 "--report", str(report), "--battles", str(battles)]) == 0
    rows = read(out)
    assert [(r["line"], r["judge"]) for r in rows] == [(n, j) for n in range(1, 6) for j in ("task:heterogeneous",
                                                                                             "length")]
    truth = get_task("heterogeneous").oracle()
    for row, pair in zip(rows[0:6:2], pairs):
        p_ab = float(truth.compare(["t0 :"], [pair["response_a"]], [pair["response_b"]])[0])
        assert row["p"] == pytest.approx(p_ab, abs=1e-12)                   # exact truth: both orders agree
        assert row["orders"][0]["p_first"] == pytest.approx(p_ab) and row["orders"][1]["p_first"] == pytest.approx(1 - p_ab)
        assert row["verdict"] == ("[[A>B]]" if p_ab > 0.5 else "[[B>A]]") and row["strength"] == 1
        assert row["winner"] == ("model_a" if p_ab > 0.5 else "model_b")
    assert [r["verdict"] for r in rows[1:6:2]] == ["[[A=B]]", "[[A>>B]]", "[[B>>A]]"]  # 13 = 13, 13 > 11, 11 < 13
    longest = rows[9]                                                                  # t2, length judge
    assert longest["prefs"] == [[0.5, 0.0, 0.0], [1.0, 0.5, 1.0], [1.0, 0.0, 0.5]] and longest["ranking"] == [1, 2, 0]
    assert "winner" not in longest and "battles" not in longest
    assert rows[7]["ranked_models"] == ["c", "v", "f"] and len(rows[7]["battles"]) == 3
    # battle lines: 3 pairs + 3 list pairs, per judge; the store takes them as they are
    lines = read(battles)
    assert len(lines) == 12 and {b["judge"] for b in lines} == {"task:heterogeneous", "length"}
    store = Store(str(tmp_path / "arena.db"))
    try:
        assert store.import_jsonl(str(battles)) == 12
        assert sorted(store.models()) == ["c", "f", "m0", "m1", "m2", "v"]
        by = {(b.model_a, b.model_b, b.judge): b.winner for b in store.battles()}
        assert by[("m0", "m1", "length")] == "tie" and by[("c", "v", "length")] == "model_a"
    finally:
        store.close()
    rep = json.loads(report.read_text())
    # the truth cycles on t0 (formal > casual > vivid > formal): 1 triad of 3; on t1 the junk words end the cycle
    assert rep["judges"]["task:heterogeneous"]["transitivity"] == {"triads": 3, "intransitive": 1, "fraction": 1 / 3}
    assert rep["judges"]["task:heterogeneous"]["position_bias_rate"] == 0.0
    (agree,) = rep["agreement"]
    assert agree["n"] == 9 and agree["judges"] == ["task:heterogeneous", "length"]
    printed = capsys.readouterr().out
    assert "intransitive triads" in printed and "Cohen's kappa" in printed


def test_one_order_asks_once_and_a_rerun_asks_nothing(tmp_path, monkeypatch):
    (tmp_path / "counting.py").write_text(
        "CALLS = []\n"
        "def judge(prompt, a, b):\n    CALLS.append((a, b))\n    return 1.0 if len(a) > len(b) else 0.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import counting

    inp = write(tmp_path / "in.jsonl", [{"prompt": "q", "response_a": "aa", "response_b": "b"},
                                        {"prompt": "q", "response_a": "c", "response_b": "dd"}])
    args = ["judge", "--judge", "python:counting:judge", "--in", str(inp), "--out", str(tmp_path / "o.jsonl")]
    assert main(args + ["--one-order"]) == 0
    assert counting.CALLS == [("aa", "b"), ("c", "dd")]
    rows = read(tmp_path / "o.jsonl")
    assert [r["verdict"] for r in rows] == ["[[A>>B]]", "[[B>>A]]"] and len(rows[0]["orders"]) == 1
    assert main(args) == 0                                  # both orders: only the swapped ones are new
    assert counting.CALLS[2:] == [("b", "aa"), ("dd", "c")]
    assert main(args) == 0                                  # everything is in the label log
    assert len(counting.CALLS) == 4
    assert read(tmp_path / "o.jsonl")[0]["orders"][1] == {"shown": "ba", "p_first": 0.0, "verdict": "[[B>>A]]"}


@pytest.mark.parametrize("line,message", [
    ('{"prompt": "q", "response_a": "x"}', "in.jsonl:2: missing field 'response_b'"),
    ('{"prompt": "q", "response_a": "x", "response_b": 3}', "in.jsonl:2: field 'response_b' must be a string"),
    ('{"prompt": "q", "responses": ["x"]}', "in.jsonl:2: field 'responses' must be a list of at least 2"),
    ('{"prompt": "q", "responses": ["x", "y"], "models": ["m", "m"]}', "in.jsonl:2: field 'models' must be a list of 2 distinct"),
    ('{"prompt": "q", "response_a": "x", "response_b": "y", "model_a": "m"}', "in.jsonl:2: field 'model_b' must be"),
    ('{"prompt": "q", "response_a": "x", "response_b": "y", "model_a": "m", "model_b": "m"}', "is the same as model_a"),
    ('{"prompt": "q", "response_a": "x", ', "in.jsonl:2: not valid JSON"),
    ('["q", "x", "y"]', "in.jsonl:2: a line must be a JSON object"),
])
def test_malformed_lines_are_named(tmp_path, capsys, line, message):
    inp = write(tmp_path / "in.jsonl", ['{"prompt": "q", "response_a": "x", "response_b": "yy"}', line])
    out = tmp_path / "out.jsonl"
    assert main(["judge", "--judge", "length", "--in", str(inp), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("preflab judge: error: ") and message in err
    assert not out.exists()                                 # validated before anything is judged or written


def test_bad_judge_and_options(tmp_path, capsys):
    inp = write(tmp_path / "in.jsonl", [{"prompt": "q", "response_a": "x", "response_b": "y"}])
    base = ["judge", "--in", str(inp), "--out", str(tmp_path / "o.jsonl")]
    assert main(base + ["--judge", "gpt-4"]) == 2
    assert "unknown form 'gpt-4'" in capsys.readouterr().err
    assert main(base + ["--judge", "length", "--battles", str(tmp_path / "b.jsonl")]) == 2
    assert "--battles needs model names" in capsys.readouterr().err
    assert main(base + ["--judge", "length", "--judge", "length"]) == 2
    assert "the same judge twice" in capsys.readouterr().err
