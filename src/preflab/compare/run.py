"""``run_compare``: every (method, seed) as an online run, the final arena, the statistics, results.json and
report.html, in one run folder (default ``runs/compare/<name>``)::

    config.yaml                      the resolved config
    metrics.jsonl                    one line per finished run (label, seed, ok, seconds, resumed, error)
    sft/seed_<s>/                    the seed's SFT-only online run (its policy: sft/seed_<s>/sft)
    runs/<label>/seed_<s>/           the online run of method <label> from that SFT policy
    results.json, report.html, *.png

Rerunning the same command resumes: finished runs are read back, unfinished ones continue where they stopped.
A run that fails is reported (``failed`` in results.json, with its error; the traceback in its ``log.txt``)
and left out of the statistics and the arena; the others finish.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Dict, List

import yaml

from preflab.config import to_dict

from .arena import final_arena
from .config import check, method_entries, online_settings, run_dir, seed_list
from .runs import execute
from .stats import ONE_SEED, bootstrap_mean, paired_difference, summary_by_round

__all__ = ["run_compare", "METRICS"]

METRICS = ("win_rate_vs_ref", "kl", "response_gap", "duality_gap")


def _resolved(cfg, entries, seeds) -> dict:
    out = to_dict(cfg)
    out["methods"] = [{"name": e.label, "method": e.method, "params": e.params} for e in entries]
    out["seeds"] = seeds
    return out


def _jobs(cfg, entries, seeds, out: Path):
    sft = {s: out / "sft" / f"seed_{s}" for s in seeds}
    sft_jobs = [{"kind": "sft", "label": "sft", "seed": s, "online": online_settings(cfg, None, s, sft[s], None)}
                for s in seeds]
    method_jobs = [{"kind": "method", "label": e.label, "seed": s,
                    "online": online_settings(cfg, e, s, out / "runs" / e.label / f"seed_{s}", sft[s] / "sft")}
                   for s in seeds for e in entries]
    return sft_jobs, method_jobs


def _rows(run_folder: Path, method: str) -> List[dict]:
    path = run_folder / "metrics.json"
    return json.loads(path.read_text())["methods"].get(method, []) if path.exists() else []


def _final_policy(run_folder: Path, method: str, rows: List[dict]) -> Path:
    last = rows[-1]
    return run_folder / last.get("policy", f"{method}/round_{last['round'] - 1}/final")


def run_compare(cfg, log: Callable[[str], None] = print) -> dict:
    """Run the comparison ``cfg`` (a :class:`~preflab.compare.config.CompareConfig`); returns (and writes)
    results.json's content. ``results["failed"]`` lists the runs that failed (empty when all finished)."""
    from preflab.tasks import get_task

    from .report import write_report

    started = time.perf_counter()
    check(cfg)
    entries, seeds = method_entries(cfg), seed_list(cfg)
    out = run_dir(cfg).resolve()                     # absolute: Ray workers do not share our working directory
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(_resolved(cfg, entries, seeds), sort_keys=False))
    sft_jobs, method_jobs = _jobs(cfg, entries, seeds, out)

    journal = out / "metrics.jsonl"

    def note(result: dict) -> None:
        with open(journal, "a") as fh:
            fh.write(json.dumps({k: v for k, v in result.items() if k != "traceback"} | {"time": time.time()}) + "\n")

    workers = cfg.workers or os.cpu_count() or 1
    done = execute(sft_jobs, method_jobs, workers, cfg.ray, log=log, on_result=note)
    run_seconds = time.perf_counter() - started

    order = ["sft"] + [e.label for e in entries]
    failed = [{"method": label, "seed": seed, "error": r["error"],
               "log": str(Path("sft" if label == "sft" else f"runs/{label}") / f"seed_{seed}" / "log.txt")}
              for (label, seed), r in sorted(done.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1]))
              if not r["ok"]]
    st = cfg.stats
    boot = dict(resamples=st.resamples, level=st.level, seed=st.seed)
    methods: Dict[str, dict] = {}
    finals: Dict[str, Dict[int, dict]] = {}
    entrants: Dict[str, Dict[int, Path]] = {}
    for e in entries:
        runs, policies = {}, {}
        for s in seeds:
            folder = out / "runs" / e.label / f"seed_{s}"
            rows = _rows(folder, e.method)
            if done[(e.label, s)]["ok"] and rows:
                runs[s] = rows
                policies[s] = _final_policy(folder, e.method, rows)
        finals[e.label] = {s: rows[-1] for s, rows in runs.items()}
        entry = {"method": e.method, "params": e.params, "seeds": sorted(runs)}
        keys = [k for k in METRICS] + [k for k in ("reward",) if any(k in r[-1] for r in runs.values())]
        for key in keys:
            entry[key] = bootstrap_mean([finals[e.label][s][key] for s in runs if key in finals[e.label][s]], **boot)
        entry["by_round"] = {key: summary_by_round(runs, key, **boot) for key in keys}
        entry["runs"] = [{"seed": s, "policy": str(policies[s].relative_to(out)), "rounds": runs[s]} for s in runs]
        methods[e.label] = entry
        if policies:
            entrants[e.label] = policies
    sft_ok = {s: out / "sft" / f"seed_{s}" / "sft" for s in seeds if done[("sft", s)]["ok"]}
    if sft_ok:
        entrants["sft"] = sft_ok

    labels = [e.label for e in entries]
    paired: Dict[str, dict] = {}
    for key in METRICS:
        paired[key] = {}
        for i, a in enumerate(labels):
            for b in labels[i + 1:]:
                va = {s: r[key] for s, r in finals[a].items() if key in r}
                vb = {s: r[key] for s, r in finals[b].items() if key in r}
                d = paired_difference(va, vb, **boot)
                if d is not None:
                    paired[key].setdefault(a, {})[b] = d

    results = {"task": cfg.task, "names": labels, "seeds": seeds, "rounds": cfg.rounds, "methods": methods,
               "paired_differences": paired,
               "stats": {"interval": "percentile bootstrap over seeds of the final round's value", **boot,
                         "paired": "paired_differences[metric][a][b] = mean over seeds of a - b (same SFT policy "
                                   "and prompts per round and seed)"}}
    if len(seeds) == 1:
        results["note"] = ONE_SEED
    arena_seconds = 0.0
    if not cfg.arena.enabled:
        results.update(head_to_head=None, ratings=None, maximal_lottery=None, arena_note="arena.enabled=false")
    elif len(entrants) >= 2:
        t0 = time.perf_counter()
        task = get_task(cfg.task)
        arena = final_arena(task, entrants, cfg.arena.samples or cfg.eval_samples, cfg.arena.seed,
                            cfg.temperature if cfg.arena.temperature is None else cfg.arena.temperature,
                            level=st.level, resamples=min(st.resamples, 1000), stats_seed=st.seed, log=log)
        results.update(arena)
        arena_seconds = time.perf_counter() - t0
    else:
        results.update(head_to_head=None, ratings=None, maximal_lottery=None,
                       arena_note="fewer than two entrants finished: no arena")
    results["failed"] = failed
    results["engine"] = "ray" if cfg.ray else "processes"
    results["seconds"] = {"runs": run_seconds, "arena": arena_seconds, "total": time.perf_counter() - started}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    write_report(results, out)
    return results
