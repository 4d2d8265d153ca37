"""``preflab compare --config FILE.yaml [--ray auto|local|ADDRESS] [key=value ...]``: many online runs over
methods and seeds, the final arena under the task's exact oracle, statistics over seeds, and a report.

    preflab compare --config examples/configs/compare_heterogeneous.yaml
    preflab compare --config examples/configs/compare_heterogeneous.yaml seeds=2 rounds=1 name=quick
    preflab compare --config examples/configs/compare_heterogeneous.yaml --ray auto     # Ray: a cluster or local

Writes ``runs/compare/<name>/`` (``output_dir=`` moves it): ``config.yaml``, ``results.json``, ``report.html``,
``runs/<method>/seed_<s>/`` and ``sft/seed_<s>/``. Rerunning resumes. The exit status is 1 when a run failed
(the others finish, and results.json lists the failures), 2 for a bad config.
"""

from __future__ import annotations

import sys

from preflab.config import build, keys_of


def add_parser(sub) -> None:
    from preflab.compare import CompareConfig

    p = sub.add_parser("compare", help="online methods x seeds, a final arena, statistics and a report",
                       description="Run every (method, seed) of a YAML config as an online run (parallel local "
                                   "processes, or Ray with --ray), then an arena of the final policies and the SFT "
                                   "policies under the task's exact oracle, means over seeds with bootstrap "
                                   "intervals and paired differences: results.json and report.html. Valid keys: "
                                   + ", ".join(keys_of(CompareConfig)))
    p.add_argument("--config", help="a YAML file (e.g. examples/configs/compare_heterogeneous.yaml)")
    p.add_argument("--ray", default=None, metavar="auto|local|ADDRESS",
                   help="run on Ray instead of local processes: auto (the running cluster, else a local Ray), "
                        "local, or a cluster address; needs pip install 'preflab[ray]'")
    p.add_argument("--workers", type=int, default=None, help="parallel local processes (default: the CPU count)")
    p.add_argument("overrides", nargs="*", metavar="key=value")


def run(args) -> int:
    from preflab.compare import CompareConfig, run_compare
    from preflab.compare.config import run_dir

    overrides = list(args.overrides)
    if args.ray is not None:
        overrides.append(f"ray={args.ray}")
    if args.workers is not None:
        overrides.append(f"workers={args.workers}")
    cfg = build(CompareConfig, args.config, overrides)
    log = lambda s: print(s, file=sys.stderr, flush=True)       # noqa: E731
    results = run_compare(cfg, log=log)
    print(f"{'method':<16} {'seeds':>5} {'win rate vs SFT [95% CI]':>26} {'KL [95% CI]':>22} {'response gap [95% CI]':>24}")
    fmt = lambda x: "-" if not x else f"{x['mean']:.3f} [{x['lo']:.3f}, {x['hi']:.3f}]"    # noqa: E731
    for name in results["names"]:
        m = results["methods"][name]
        print(f"{name:<16} {len(m['seeds']):>5} {fmt(m['win_rate_vs_ref']):>26} {fmt(m['kl']):>22} "
              f"{fmt(m['response_gap']):>24}")
    if results.get("maximal_lottery"):
        ml = results["maximal_lottery"]
        print("maximal lottery: " + ", ".join(f"{n} {p:.2f}" for n, p in zip(ml["names"], ml["probabilities"]) if p > 1e-6))
    out = run_dir(cfg)
    print(f"results: {out / 'results.json'}\nreport: {out / 'report.html'}\n({results['seconds']['total']:.0f} s)")
    for f in results["failed"]:
        print(f"FAILED {f['method']} seed {f['seed']}: {f['error']} (log: {out / f['log']})", file=sys.stderr)
    return 1 if results["failed"] else 0
