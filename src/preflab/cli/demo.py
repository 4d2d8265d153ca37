"""``preflab demo``: the whole loop on a CPU in minutes: a tiny model, SFT on the heterogeneous-annotator task,
rounds of iterative DPO, INPO and MNPO against the task's exact oracle, over three seeds (a small ``preflab
compare``: means with bootstrap intervals, paired differences, a final arena), and a report.

The run folder is a compare folder (``results.json``, ``report.html``, ``runs/<method>/seed_<s>/``) plus
``metrics.json``: per method, one row per round with each metric's mean over the seeds (and ``seeds``, the
per-seed values). ``--model smollm2`` runs one seed of the real SmolLM2-135M-Instruct instead.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

_ROW_KEYS = ("win_rate_vs_ref", "kl", "duality_gap", "response_gap")


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="the whole loop on a CPU in minutes, with a report",
                       description="SFT a tiny model on the heterogeneous-annotator task (intransitive aggregate "
                                   "preferences), run rounds of iterative DPO, INPO and MNPO with the exact oracle "
                                   "over several seeds, and write report.html, results.json (means with intervals) "
                                   "and metrics.json.")
    p.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo; rerunning resumes)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--methods", default="iterative_dpo,inpo,mnpo", help="comma-separated online methods")
    p.add_argument("--task", default="heterogeneous", help="transitive, heterogeneous or sentiment")
    p.add_argument("--model", default="tiny", choices=["tiny", "smollm2"],
                   help="tiny (default) or smollm2: the real SmolLM2-135M-Instruct on instructions with checkable "
                        "constraints (a programmatic judge; one seed)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..n-1 (tiny model; default 3)")
    p.add_argument("--minutes", type=float, default=None,
                   help="time budget: no new round starts after it (default: none for tiny, 10 for smollm2)")
    p.add_argument("--seed", type=int, default=0, help="the seed of a --model smollm2 run")


def run(args) -> int:
    t0 = time.perf_counter()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.model == "smollm2":
        return _smollm2(args, methods, t0)
    from preflab.compare import CompareConfig, run_compare
    from preflab.config import build

    settings = dict(task=args.task, methods=methods, seeds=list(range(args.seeds)), rounds=args.rounds,
                    output_dir=args.out, prompts_per_round=48, steps_per_round=12, eval_samples=24,
                    sft_examples=1000, sft_steps=100, max_minutes=args.minutes, stats={"resamples": 2000})
    cfg = build(CompareConfig, None, [f"{k}={json.dumps(v)}" for k, v in settings.items()])
    results = run_compare(cfg, log=lambda s: print(s, file=sys.stderr, flush=True))
    if results["failed"]:
        for f in results["failed"]:
            print(f"FAILED {f['method']} seed {f['seed']}: {f['error']} (log: {Path(args.out) / f['log']})", file=sys.stderr)
        return 1
    metrics = _round_means(results)
    (Path(args.out) / "metrics.json").write_text(json.dumps(metrics, indent=1))
    fmt = lambda x: f"{x['mean']:.3f} [{x['lo']:.3f}, {x['hi']:.3f}]"        # noqa: E731
    print(f"{len(results['seeds'])} seeds, {args.rounds} rounds; final round, mean over seeds [95% bootstrap interval]")
    print(f"{'method':<15} {'win rate vs SFT':>22} {'KL':>22} {'response gap':>22}")
    for name in results["names"]:
        m = results["methods"][name]
        print(f"{name:<15} {fmt(m['win_rate_vs_ref']):>22} {fmt(m['kl']):>22} {fmt(m['response_gap']):>22}")
    names = results["names"]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = results["paired_differences"]["win_rate_vs_ref"].get(a, {}).get(b)
            if d:
                print(f"paired difference in win rate, {a} - {b}: {d['mean']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]")
    if results.get("maximal_lottery"):
        ml = results["maximal_lottery"]
        print("maximal lottery over the methods: " + ", ".join(f"{n} {p:.2f}" for n, p in zip(ml["names"], ml["probabilities"])
                                                              if p > 1e-6))
    print(f"report: {Path(args.out) / 'report.html'}\nresults: {Path(args.out) / 'results.json'}\n"
          f"metrics: {Path(args.out) / 'metrics.json'}\n({time.perf_counter() - t0:.0f} s)")
    return 0


def _round_means(results: dict) -> dict:
    """metrics.json: per method, a row per round with each metric's mean over the seeds and the per-seed values."""
    out = {"task": results["task"], "seeds": results["seeds"], "methods": {}}
    for name in results["names"]:
        runs = results["methods"][name]["runs"]
        rows = []
        for r in range(min(len(run["rounds"]) for run in runs)):
            per_seed = {run["seed"]: run["rounds"][r] for run in runs}
            row = {"round": r + 1}
            for key in _ROW_KEYS:
                values = [v[key] for v in per_seed.values()]
                row[key] = float(np.mean(values))
            row["seeds"] = {str(s): {k: v[k] for k in _ROW_KEYS} for s, v in per_seed.items()}
            rows.append(row)
        out["methods"][name] = rows
    return out


def _smollm2(args, methods, t0) -> int:
    from preflab.online import OnlineConfig, run_online
    from preflab.online.report import write_report

    cfg = OnlineConfig(task="instructions", methods=methods, rounds=args.rounds, output_dir=args.out,
                       seed=args.seed, prompts_per_round=16, steps_per_round=8, batch_size=4, lr=1.5e-5,
                       eval_samples=8, max_minutes=10.0 if args.minutes is None else args.minutes)
    metrics = run_online(cfg, log=lambda s: print(s, file=sys.stderr))
    report = write_report(metrics, args.out)
    print(f"{'method':<15} {'round':>5} {'win rate vs SFT':>16} {'KL':>7} {'pool gap':>9} {'response gap':>13}")
    for name, rows in metrics["methods"].items():
        for r in rows:
            print(f"{name:<15} {r['round']:>5} {r['win_rate_vs_ref']:>16.3f} {r['kl']:>7.3f} {r['duality_gap']:>9.3f} "
                  f"{r.get('response_gap', float('nan')):>13.3f}")
    print(f"report: {report}\nmetrics: {args.out}/metrics.json\n({time.perf_counter() - t0:.0f} s)")
    return 0
