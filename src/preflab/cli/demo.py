"""``preflab demo``: the whole loop on a CPU in minutes: a tiny model, SFT on the heterogeneous-annotator task,
rounds of iterative DPO, INPO and MNPO against the task's exact oracle, and a report."""

from __future__ import annotations

import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="the whole loop on a CPU in minutes, with a report",
                       description="SFT a tiny model on the heterogeneous-annotator task (intransitive aggregate "
                                   "preferences), run rounds of iterative DPO, INPO and MNPO with the exact oracle, "
                                   "and write report.html and metrics.json.")
    p.add_argument("--out", default="runs/demo", help="run folder (default: runs/demo; rerunning resumes)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--methods", default="iterative_dpo,inpo,mnpo", help="comma-separated online methods")
    p.add_argument("--task", default="heterogeneous", help="transitive, heterogeneous or sentiment")
    p.add_argument("--model", default="tiny", choices=["tiny", "smollm2"],
                   help="tiny (default) or smollm2: the real SmolLM2-135M-Instruct on instructions with checkable "
                        "constraints (a programmatic judge)")
    p.add_argument("--minutes", type=float, default=None,
                   help="time budget: no new round starts after it (default: none for tiny, 10 for smollm2)")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from preflab.online import OnlineConfig, run_online
    from preflab.online.report import write_report

    t0 = time.perf_counter()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if args.model == "smollm2":
        cfg = OnlineConfig(task="instructions", methods=methods, rounds=args.rounds, output_dir=args.out,
                           seed=args.seed, prompts_per_round=16, steps_per_round=8, batch_size=4, lr=1.5e-5,
                           eval_samples=8, max_minutes=10.0 if args.minutes is None else args.minutes)
    else:
        cfg = OnlineConfig(task=args.task, methods=methods, rounds=args.rounds, output_dir=args.out, seed=args.seed,
                           prompts_per_round=48, steps_per_round=12, eval_samples=24, sft_examples=1000,
                           sft_steps=100, max_minutes=args.minutes)
    metrics = run_online(cfg, log=lambda s: print(s, file=sys.stderr))
    report = write_report(metrics, args.out)
    print(f"{'method':<15} {'round':>5} {'win rate vs SFT':>16} {'KL':>7} {'pool gap':>9} {'response gap':>13}")
    for name, rows in metrics["methods"].items():
        for r in rows:
            print(f"{name:<15} {r['round']:>5} {r['win_rate_vs_ref']:>16.3f} {r['kl']:>7.3f} {r['duality_gap']:>9.3f} "
                  f"{r.get('response_gap', float('nan')):>13.3f}")
    print(f"report: {report}\nmetrics: {args.out}/metrics.json\n({time.perf_counter() - t0:.0f} s)")
    return 0
