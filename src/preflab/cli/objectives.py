"""``preflab objectives``: the registry as a table, or as JSON (``--json``)."""

from __future__ import annotations

import json
import shutil



def add_parser(sub) -> None:
    p = sub.add_parser("objectives", help="list every registered objective with its paper and needs",
                       description="List every registered objective: paper, data it needs, reference, "
                                   "opponents, log-prob scale and hyperparameters.")
    p.add_argument("--json", action="store_true", help="print a JSON list of objects instead of a table")
    p.add_argument("--data", choices=("pairwise", "listwise", "unpaired", "online", "policy_gradient"), help="only objectives for this kind of data")


def run(args) -> int:
    from preflab.objectives import list_objectives

    specs = list_objectives(args.data)
    if args.json:
        print(json.dumps([s.as_dict() for s in specs], indent=2))
        return 0
    rows = [("name", "data", "ref", "opp", "logp", "arXiv", "hyperparameters")]
    for s in specs:
        hp = " ".join(f"{k}={_short(v)}" for k, v in s.defaults.items())
        rows.append((s.name, s.data, "yes" if s.needs_reference else "-", "yes" if s.needs_opponents else "-",
                     s.logp_scale, s.arxiv, hp))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    total = shutil.get_terminal_size((120, 20)).columns
    for i, row in enumerate(rows):
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]
        print(line if len(line) <= total else line[: total - 3] + "...")
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 15)
    print(f"\n{len(specs)} objectives. `preflab objectives --json` gives papers, equations and help for each.")
    return 0


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value)
