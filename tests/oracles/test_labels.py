"""LabelLog: labels survive a killed process, a cut last line, and an oracle that fails; only missing labels are
asked again."""

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from preflab.oracles import CallableOracle, LabelLog, OracleError, RewardOracle, label_key


def counting_oracle(name="len", fail_on=None):
    asked = []

    def fn(prompt, a, b):
        if a == fail_on:
            raise RuntimeError(f"cannot judge {a!r}")
        asked.append((prompt, a, b))
        return 1.0 if len(a) > len(b) else 0.0 if len(a) < len(b) else 0.5

    return CallableOracle(compare_fn=fn, name=name), asked


def items(n):
    return [f"p{i}" for i in range(n)], ["x" * (i % 4) for i in range(n)], ["x" * 2] * n


def test_only_missing_labels_are_asked_and_duplicates_once(tmp_path):
    path = tmp_path / "log.jsonl"
    oracle, asked = counting_oracle()
    prompts, first, second = items(6)
    want = [0.0, 0.0, 0.5, 1.0, 0.0, 0.0]
    assert LabelLog(path).label(oracle, prompts[:3], first[:3], second[:3]).tolist() == want[:3]
    assert len(asked) == 3
    log = LabelLog(path)
    got = log.label(oracle, prompts + prompts[:2], first + first[:2], second + second[:2], batch_size=2)
    assert got.tolist() == want + want[:2]
    assert len(asked) == 6 and log.asked == 3                  # items 3, 4, 5 only, each once
    # the key includes the oracle's name: another oracle is asked afresh
    other, other_asked = counting_oracle(name="len-v2")
    LabelLog(path).label(other, prompts[:2], first[:2], second[:2])
    assert len(other_asked) == 2
    assert label_key("len", "p0", "", "xx") != label_key("len-v2", "p0", "", "xx")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 8 and rows[0] == {"key": label_key("len", "p0", "", "xx"), "oracle": "len", "p": 0.0,
                                          "prompt": "p0", "first": "", "second": "xx"}


def test_a_failing_oracle_keeps_the_batches_before_the_failure(tmp_path):
    path = tmp_path / "log.jsonl"
    prompts, first, second = items(7)
    first[5] = "BOOM"
    oracle, asked = counting_oracle(fail_on="BOOM")
    with pytest.raises(OracleError) as info:
        LabelLog(path).label(oracle, prompts, first, second, batch_size=2)
    # batches [0,1], [2,3] were written; batch [4,5] failed on item 5 (its item 4 is lost with it)
    assert info.value.saved == 4 and len(path.read_text().splitlines()) == 4
    assert "cannot judge 'BOOM'" in str(info.value) and "4 new label(s) were saved" in str(info.value)
    assert "3 of the 7 missing label(s) are still missing" in str(info.value)
    fixed, asked_again = counting_oracle()
    log = LabelLog(path)
    log.label(fixed, prompts, first, second)
    assert [a for _, a, _ in asked_again] == ["x" * 0, "BOOM", "xx"]     # items 4, 5, 6
    assert log.asked == 3


def test_a_cut_last_line_is_dropped_and_appends_start_clean(tmp_path):
    path = tmp_path / "log.jsonl"
    oracle, asked = counting_oracle()
    prompts, first, second = items(3)
    LabelLog(path).label(oracle, prompts, first, second)
    text = path.read_text()
    path.write_text(text[: len(text) - 25])               # a crash in the middle of the last record
    log = LabelLog(path)
    assert len(log) == 2 and path.read_text().endswith("\n")
    log.label(oracle, prompts, first, second)
    assert log.asked == 1 and len(path.read_text().splitlines()) == 3
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_a_damaged_line_in_the_middle_is_an_error_naming_it(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"key": "a", "p": 1.0}\nnot json\n{"key": "b", "p": 0.0}\n')
    with pytest.raises(OracleError, match=r"log.jsonl: line 2 is not a label record"):
        LabelLog(path)


def test_a_killed_process_loses_no_saved_label(tmp_path):
    path = tmp_path / "log.jsonl"
    n = 200
    script = textwrap.dedent(f"""
        import time
        from preflab.oracles import CallableOracle, LabelLog
        def slow(prompt, a, b):
            time.sleep(0.01)
            return 1.0 if len(a) > len(b) else 0.0 if len(a) < len(b) else 0.5
        prompts = [f"p{{i}}" for i in range({n})]
        first = ["x" * (i % 4) for i in range({n})]
        LabelLog({str(path)!r}).label(CallableOracle(compare_fn=slow, name="len"), prompts, first, ["xx"] * {n},
                                      batch_size=1)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().count("\n") >= 10:
                break
            time.sleep(0.01)
        proc.kill()                                        # SIGKILL: no cleanup, possibly mid-write
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = LabelLog(path)
    saved = len(log)
    assert 10 <= saved < n, saved
    oracle, asked = counting_oracle()
    prompts, first, second = items(n)
    p = log.label(oracle, prompts, first, second)
    assert len(asked) == n - saved                        # nothing that was saved is asked again
    np.testing.assert_array_equal(p, [1.0 if len(a) > 2 else 0.0 if len(a) < 2 else 0.5 for a in first])


def test_an_anonymous_oracle_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"'reward:.*<lambda>' comes from an anonymous function.*name='...'"):
        LabelLog(tmp_path / "log.jsonl").label(RewardOracle(lambda x, y: 0.0), ["q"], ["a"], ["b"])


def test_oracle_output_is_checked(tmp_path):
    bad = RewardOracle(lambda x, y: float("inf"), name="inf")
    with pytest.raises(OracleError, match=r"0 new label\(s\) were saved"):
        LabelLog(tmp_path / "log.jsonl").label(bad, ["q"], ["a"], ["b"])
