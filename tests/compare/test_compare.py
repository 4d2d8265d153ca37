"""``preflab compare`` end to end on tiny budgets: 3 entries (one that fails) x 2 seeds x 1 round.

The run's results.json keys and shapes, its numbers against the runs' own metrics, the run folder, a failed
run reported while the others finish (exit status 1), resuming without training, the Ray engine through a
stand-in ``ray`` module and, when Ray is installed, through a real local Ray with the same numbers."""

import base64
import json
import sys
import time
import types
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import yaml

from preflab.compare import CompareConfig, run_compare
from preflab.config import build

METHODS = ("methods=[iterative_dpo, {name: mnpo_h1, method: mnpo, params: {history: 1}}, "
           "{name: broken, method: iterative_dpo, params: {objective: no_such_loss}}]")
SETTINGS = ["seeds=2", "rounds=1", "prompts_per_round=8", "steps_per_round=2", "eval_samples=4", "sft_examples=100",
            "sft_steps=5", "batch_size=4", "workers=2", "stats.resamples=2000", "checkpoint_every=null"]
GOOD = [(label, s) for label in ("iterative_dpo", "mnpo_h1") for s in (0, 1)]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "run"
    overrides = [METHODS, *SETTINGS, f"output_dir={out}"]
    logs = []
    t0 = time.perf_counter()
    results = run_compare(build(CompareConfig, None, overrides), log=logs.append)
    return {"out": out, "overrides": overrides, "results": results, "logs": logs,
            "seconds": time.perf_counter() - t0}


def _numbers(results: dict) -> dict:
    """results.json without its timings."""
    r = json.loads(json.dumps(results))
    r.pop("seconds")
    for m in r["methods"].values():
        for run in m["runs"]:
            for row in run["rounds"]:
                row.pop("seconds")
    return r


def _weights(out: Path) -> dict:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in sorted(out.rglob("model.safetensors"))}


def test_results_json_has_the_promised_keys_and_shapes(compared):
    out, r = compared["out"], compared["results"]
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(r))
    assert r["names"] == ["iterative_dpo", "mnpo_h1", "broken"] and r["seeds"] == [0, 1]
    for name in ("iterative_dpo", "mnpo_h1"):
        m = r["methods"][name]
        assert m["seeds"] == [0, 1]
        for key in ("win_rate_vs_ref", "kl", "response_gap"):
            finals = [json.loads((out / "runs" / name / f"seed_{s}" / "metrics.json").read_text())
                      ["methods"][m["method"]][-1][key] for s in (0, 1)]
            assert set(m[key]) >= {"mean", "lo", "hi"}
            assert m[key]["mean"] == pytest.approx(np.mean(finals))
            assert m[key]["lo"] == pytest.approx(min(finals)) and m[key]["hi"] == pytest.approx(max(finals))
        assert [b["round"] for b in m["by_round"]["win_rate_vs_ref"]] == [1]
        assert [run["seed"] for run in m["runs"]] == [0, 1]
        assert (out / m["runs"][0]["policy"] / "config.json").exists()
    h2h = r["head_to_head"]
    assert h2h["names"] == ["iterative_dpo", "mnpo_h1", "sft"]             # the failed entry has no policy
    H = np.array(h2h["matrix"])
    assert H.shape == (3, 3) and np.allclose(H + H.T, 1.0) and np.allclose(np.diag(H), 0.5)
    assert np.array(r["policies"]["matrix"]).shape == (6, 6)
    assert set(r["ratings"]["ratings"]) == {"iterative_dpo", "mnpo_h1", "sft"}
    for v in r["ratings"]["ratings"].values():
        assert v["lower"] <= v["rating"] <= v["upper"] and v["seed_lower"] <= v["rating"] + 1e-9 <= v["seed_upper"] + 2e-9
    ml = r["maximal_lottery"]
    assert ml["names"] == ["iterative_dpo", "mnpo_h1"] and sum(ml["probabilities"]) == pytest.approx(1.0)
    d = r["paired_differences"]["win_rate_vs_ref"]["iterative_dpo"]["mnpo_h1"]
    per_seed = [r["methods"]["iterative_dpo"]["runs"][s]["rounds"][-1]["win_rate_vs_ref"]
                - r["methods"]["mnpo_h1"]["runs"][s]["rounds"][-1]["win_rate_vs_ref"] for s in (0, 1)]
    assert d["mean"] == pytest.approx(np.mean(per_seed)) and d["seeds"] == [0, 1]
    assert d["lo"] == pytest.approx(min(per_seed)) and d["hi"] == pytest.approx(max(per_seed))


def test_the_run_folder_holds_config_report_and_one_sft_per_seed(compared):
    out = compared["out"]
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["methods"][1] == {"name": "mnpo_h1", "method": "mnpo", "params": {"history": 1}}
    again = build(CompareConfig, out / "config.yaml")           # the resolved config is a valid config
    assert again.seeds == [0, 1] and again.eval_samples == 4
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 8 and "<table>" in page and "http" not in page.split("<body>")[1]
    png = base64.b64decode(page.split("data:image/png;base64,")[1].split('"')[0])
    assert png.startswith(b"\x89PNG")
    for s in (0, 1):                            # every run started from its seed's one SFT policy
        sft = (out / "sft" / f"seed_{s}" / "sft" / "model.safetensors").read_bytes()
        for label in ("iterative_dpo", "mnpo_h1"):
            assert (out / "runs" / label / f"seed_{s}" / "sft" / "model.safetensors").read_bytes() == sft
    assert (out / "sft" / "seed_0" / "sft" / "model.safetensors").read_bytes() != \
        (out / "sft" / "seed_1" / "sft" / "model.safetensors").read_bytes()
    journal = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(journal) == 8 and {(j["label"], j["seed"]) for j in journal if j["ok"]} == set(GOOD) | {("sft", 0), ("sft", 1)}


def test_a_failed_run_is_reported_and_the_others_finish(compared):
    r, out = compared["results"], compared["out"]
    assert [(f["method"], f["seed"]) for f in r["failed"]] == [("broken", 0), ("broken", 1)]
    assert all("no_such_loss" in f["error"] for f in r["failed"])
    assert "Traceback" in (out / r["failed"][0]["log"]).read_text()
    assert r["methods"]["broken"]["seeds"] == [] and r["methods"]["broken"]["win_rate_vs_ref"] is None
    assert any("broken seed 0: FAILED" in line for line in compared["logs"])


def test_a_second_invocation_resumes_without_training_and_exits_1_for_the_failure(compared, capsys):
    from preflab.cli import main

    out = compared["out"]
    before = _weights(out)
    assert len(before) >= 2 + 4 * 2                   # SFT per seed, and each run's copy and round-1 policy
    lines = len((out / "metrics.jsonl").read_text().splitlines())
    assert main(["compare", *compared["overrides"]]) == 1
    err = capsys.readouterr().err
    assert "FAILED broken seed 0" in err and "FAILED broken seed 1" in err
    assert _weights(out) == before                     # no policy was written again
    journal = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()[lines:]]
    assert {(j["label"], j["seed"]) for j in journal if j["resumed"]} == set(GOOD) | {("sft", 0), ("sft", 1)}
    assert _numbers(json.loads((out / "results.json").read_text())) == _numbers(compared["results"])


class _FakeRef:
    def __init__(self, fn, job):
        self.fn, self.job = fn, job

    def future(self):
        fut = Future()
        fut.set_result(self.fn(self.job))
        return fut


def _fake_ray(calls: list):
    """A stand-in ``ray`` with no cluster running: ``remote`` tasks run in this process when submitted."""
    ray = types.ModuleType("ray")
    state = {"up": False}

    def init(address=None, **kw):
        calls.append(("init", address, kw.get("num_cpus")))
        if address == "auto":
            raise ConnectionError("no cluster")
        state["up"] = True

    def remote(**options):
        calls.append(("remote", options))
        return lambda fn: types.SimpleNamespace(remote=lambda job: _FakeRef(fn, job))

    ray.init, ray.remote = init, remote
    ray.is_initialized = lambda: state["up"]
    ray.cluster_resources = lambda: {"CPU": 2.0}
    ray.shutdown = lambda: calls.append(("shutdown",))
    return ray


def test_ray_auto_without_a_cluster_starts_a_local_one_and_gives_the_same_results(compared, monkeypatch,
                                                                                   one_torch_thread):
    calls, logs = [], []
    monkeypatch.setitem(sys.modules, "ray", _fake_ray(calls))
    results = run_compare(build(CompareConfig, None, [*compared["overrides"], "ray=auto"]), log=logs.append)
    assert calls[0] == ("init", "auto", None) and calls[1] == ("init", None, 2)
    assert ("remote", {"num_cpus": 1, "max_retries": 0}) in calls and calls[-1] == ("shutdown",)
    assert any("starting a local Ray" in line for line in logs)
    assert results["engine"] == "ray"
    mine, theirs = _numbers(results), _numbers(compared["results"])
    mine.pop("engine"), theirs.pop("engine")
    assert mine == theirs


def test_ray_missing_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ValueError, match=r"pip install 'preflab\[ray\]'"):
        run_compare(build(CompareConfig, None, ["methods=[inpo]", "seeds=1", "ray=auto", f"output_dir={tmp_path}"]))


def test_a_real_local_ray_gives_the_process_pools_numbers(compared, tmp_path, capsys):
    pytest.importorskip("ray")
    from preflab.cli import main

    overrides = [o for o in compared["overrides"] if not o.startswith(("methods=", "seeds=", "output_dir="))]
    out = tmp_path / "ray"
    assert main(["compare", "--ray", "local", "methods=[iterative_dpo]", "seeds=[1]", f"output_dir={out}",
                 *overrides]) == 0
    assert "on Ray (a local Ray" in capsys.readouterr().err
    ray_rows = json.loads((out / "results.json").read_text())["methods"]["iterative_dpo"]["runs"][0]["rounds"]
    pool_rows = compared["results"]["methods"]["iterative_dpo"]["runs"][1]["rounds"]
    for a, b in zip(ray_rows, pool_rows):
        a.pop("seconds"), b.pop("seconds")
    assert ray_rows == pool_rows


def test_arena_disabled_keeps_the_statistics_and_skips_the_arena(compared, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(compared["out"], out)
    overrides = [o for o in compared["overrides"] if not o.startswith("output_dir=")]
    r = run_compare(build(CompareConfig, None, overrides + [f"output_dir={out}", "arena.enabled=false"]),
                    log=lambda s: None)
    assert r["head_to_head"] is None and r["ratings"] is None and r["maximal_lottery"] is None
    assert r["arena_note"] == "arena.enabled=false" and r["seconds"]["arena"] == 0.0
    for name in ("iterative_dpo", "mnpo_h1"):
        assert r["methods"][name]["win_rate_vs_ref"] == compared["results"]["methods"][name]["win_rate_vs_ref"]
    assert (out / "report.html").exists()
