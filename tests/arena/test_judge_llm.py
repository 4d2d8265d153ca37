"""LLM judging against scripted local OpenAI-compatible endpoints: one that answers with graded arena-hard
verdicts by the true qualities written in the answers, and one that always prefers the first slot (position-bias
rate 1.0). A failed run and a killed run resume without asking twice."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Optional

import pytest

from preflab.cli import main
from preflab.oracles.spec import oracle_from_spec
from preflab.oracles.verdict import GRADED_SYSTEM

from ..oracles.fake_judge import LocalJSONServer

_Q = re.compile(r"q=(-?\d+(?:\.\d+)?)")


def graded_label(diff: float) -> str:
    if diff >= 2:
        return "[[A>>B]]"
    if diff > 0:
        return "[[A>B]]"
    if diff == 0:
        return "[[A=B]]"
    return "[[B>A]]" if diff > -2 else "[[B>>A]]"


class ScriptedJudge(LocalJSONServer):
    """A chat-completions endpoint on 127.0.0.1. ``mode="graded"``: the first ``q=`` in the user message is
    answer A's quality, the second B's; the reply reasons a little and ends with ``graded_label(q_A - q_B)``.
    ``mode="first"``: always ``[[A>B]]``. Requests from index ``hang_from`` on wait until the server stops;
    from ``fail_from`` on they get a 500."""

    def __init__(self, mode: str = "graded", *, hang_from: Optional[int] = None, fail_from: Optional[int] = None):
        super().__init__()
        self.mode, self.hang_from, self.fail_from = mode, hang_from, fail_from
        self.bodies: list = []
        self.auth: list = []

    def respond(self, body: dict, headers) -> Optional[tuple]:
        with self.lock:
            index = len(self.bodies)
            self.bodies.append(body)
            self.auth.append(headers.get("Authorization"))
        if self.hang_from is not None and index >= self.hang_from:
            self.stop_event.wait(30)
            return None
        if self.fail_from is not None and index >= self.fail_from:
            return 500, {"error": {"message": "scripted failure", "type": "server_error"}}
        if self.mode == "first":
            label = "[[A>B]]"
        else:
            qa, qb = (float(x) for x in _Q.findall(body["messages"][-1]["content"])[:2])
            label = graded_label(qa - qb)
        text = f"Both answers address the question. Weighing them: My final verdict is: {label}"
        return 200, {"id": f"c{index}", "object": "chat.completion", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                  "message": {"role": "assistant", "content": text}}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    @property
    def n_calls(self) -> int:
        with self.lock:
            return len(self.bodies)


QUALITIES = [(3, 0), (0, 1), (1, 1), (0, 3), (2, 1), (1, 0)]


def pair_lines(path, models=True):
    rows = []
    for k, (qa, qb) in enumerate(QUALITIES):
        row = {"prompt": f"question {k}", "response_a": f"answer q={qa}", "response_b": f"answer q={qb}"}
        if models:
            row.update(model_a="strong" if k % 2 == 0 else "weak", model_b="weak" if k % 2 == 0 else "strong")
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_graded_judge_from_a_spec_combines_both_orders():
    with ScriptedJudge() as server:
        judge = oracle_from_spec(f"llm:judge@{server.url}?max_retries=0")
        p = judge.compare([f"q{k}" for k in range(6)], [f"q={a}" for a, _ in QUALITIES], [f"q={b}" for _, b in QUALITIES])
        # (3,0): [[A>>B]] then swapped [[B>>A]] -> (1 + 1 - 0) / 2; (2,1): [[A>B]] / [[B>A]] -> (0.75 + 1 - 0.25) / 2
        assert p.tolist() == [1.0, 0.25, 0.5, 0.0, 0.75, 0.75]
        assert server.n_calls == 12
        assert server.bodies[0]["messages"][0] == {"role": "system", "content": GRADED_SYSTEM}
        assert judge.position_bias().followed_position == 0.0


def test_cli_reports_position_bias_of_one_for_a_first_slot_judge(tmp_path):
    inp = pair_lines(tmp_path / "pairs.jsonl")
    with ScriptedJudge() as fair, ScriptedJudge("first") as biased:
        out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
        assert main(["judge", "--judge", f"llm:fair@{fair.url}", "--judge", f"llm:biased@{biased.url}?key=sk-secret",
                     "--in", str(inp), "--out", str(out), "--report", str(report)]) == 0
        specs = [f"llm:fair@{fair.url}", f"llm:biased@{biased.url}?key=***"]      # keys never reach the files
        assert set(biased.auth) == {"Bearer sk-secret"}
        assert "sk-secret" not in out.read_text() + report.read_text()
        # 6 pairs x 2 orders, but (1, 1) reads the same swapped: the label log asks that request once
        assert fair.n_calls == biased.n_calls == 11
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    fair_rows, biased_rows = rows[0::2], rows[1::2]
    assert [r["verdict"] for r in fair_rows] == ["[[A>>B]]", "[[B>A]]", "[[A=B]]", "[[B>>A]]", "[[A>B]]", "[[A>B]]"]
    assert [[o["verdict"] for o in r["orders"]] for r in fair_rows][:2] == [["[[A>>B]]", "[[B>>A]]"],
                                                                            ["[[B>A]]", "[[A>B]]"]]
    assert [r["winner"] for r in fair_rows] == ["model_a", "model_b", "tie", "model_b", "model_a", "model_a"]
    assert all(r["verdict"] == "[[A=B]]" and r["winner"] == "tie" for r in biased_rows)
    assert all([o["verdict"] for o in r["orders"]] == ["[[A>B]]", "[[A>B]]"] for r in biased_rows)
    rep = json.loads(report.read_text())
    assert rep["judges"][specs[0]]["position_bias_rate"] == 0.0
    assert rep["judges"][specs[1]]["position_bias_rate"] == 1.0
    assert rep["judges"][specs[1]]["position_bias"]["first_position_win_rate"] == 0.75
    # fair: A, B, tie, B, A, A; biased: tie x 6 -> p_o = 1/6, p_e = 1/6 * 1 -> kappa 0
    (agree,) = rep["agreement"]
    assert agree["agreement"] == pytest.approx(1 / 6) and agree["kappa"] == pytest.approx(0.0, abs=1e-12)


def test_a_failed_run_resumes_without_asking_twice(tmp_path, capsys):
    inp = pair_lines(tmp_path / "pairs.jsonl")
    out = tmp_path / "out.jsonl"
    with ScriptedJudge(fail_from=4) as failing:
        spec = f"llm:fair@{failing.url}?max_retries=0"
        assert main(["judge", "--judge", spec, "--in", str(inp), "--out", str(out), "--batch-size", "2"]) == 1
    err = capsys.readouterr().err
    assert "rerun the same command to resume" in err and "InternalServerError" in err
    assert len((tmp_path / "out.jsonl.labels.jsonl").read_text().splitlines()) == 4   # the first batch: 2 pairs x 2
    with ScriptedJudge() as healthy:
        # the same judge (the label log keys it by model and settings, not by URL)
        assert main(["judge", "--judge", f"llm:fair@{healthy.url}?max_retries=0", "--in", str(inp), "--out", str(out),
                     "--batch-size", "2"]) == 0
        assert healthy.n_calls == 11 - 4
    assert [json.loads(line)["p"] for line in out.read_text().splitlines()] == [1.0, 0.25, 0.5, 0.0, 0.75, 0.75]


def test_a_killed_run_resumes_without_asking_twice(tmp_path):
    inp = pair_lines(tmp_path / "pairs.jsonl", models=False)
    out, labels = tmp_path / "out.jsonl", tmp_path / "labels.jsonl"
    with ScriptedJudge(hang_from=4) as hanging:
        cmd = [sys.executable, "-m", "preflab", "judge", "--judge", f"llm:fair@{hanging.url}", "--in", str(inp),
               "--out", str(out), "--labels", str(labels), "--batch-size", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while hanging.n_calls < 7 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)        # the second batch (3 distinct requests) is in flight and hangs
            time.sleep(0.2)
            assert hanging.n_calls == 7 and proc.poll() is None
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert len(labels.read_text().splitlines()) == 4
    with ScriptedJudge() as healthy:
        assert main(["judge", "--judge", f"llm:fair@{healthy.url}", "--in", str(inp), "--out", str(out),
                     "--labels", str(labels), "--batch-size", "2"]) == 0
        assert healthy.n_calls == 11 - 4
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["p"] for r in rows] == [1.0, 0.25, 0.5, 0.0, 0.75, 0.75] and "winner" not in rows[0]
