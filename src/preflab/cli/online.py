"""``preflab online --config FILE.yaml [key=value ...]``: iterative / Nash training rounds on a task."""

from __future__ import annotations

import sys

from preflab.config import build, keys_of


def add_parser(sub) -> None:
    from preflab.online import OnlineConfig

    p = sub.add_parser("online", help="online rounds: sample, label with an oracle, train, evaluate",
                       description="Run online methods for several rounds from one SFT policy on a built-in task. "
                                   "Settings from a YAML file and key=value overrides (e.g. methods=[inpo,mnpo] "
                                   "rounds=4). Valid keys: " + ", ".join(keys_of(OnlineConfig)))
    p.add_argument("--config", help="a YAML file")
    p.add_argument("overrides", nargs="*", metavar="key=value")


def run(args) -> int:
    from preflab.online import OnlineConfig, run_online
    from preflab.online.report import write_report

    cfg = build(OnlineConfig, args.config, args.overrides)
    metrics = run_online(cfg, log=lambda s: print(s, file=sys.stderr))
    print(f"report: {write_report(metrics, cfg.output_dir)}")
    return 0
