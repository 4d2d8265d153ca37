"""``preflab arena``: ratings with intervals from pairwise battles, arena runs among models, reports.

    preflab arena rate battles.jsonl --method bt --json          # FastChat-style lines (or an arena.db)
    preflab arena rate battles.jsonl --method elo --interval bootstrap --rounds 100
    preflab arena run --models tiny:1,tiny:2,smollm2 --prompts prompts.txt --judge length --out runs/arena
    preflab arena report --db runs/arena/arena.db                # re-render report.html and ratings.json

``rate --json`` prints one JSON object: ``ratings`` (model -> rating, lower, upper, rank, battles; the scale
P(a beats b) = 1/(1+10^((R_b-R_a)/400) with mean rating 1000), ``method``, ``interval``, ``level``,
``models``, ``win_rate`` (row over column), ``nash`` (maximal-lottery mass and duality gap per model).
"""

from __future__ import annotations

import json
import os
import sys

from preflab.arena.choices import INTERVALS, METHODS


def _rating_options(p) -> None:
    p.add_argument("--method", default="bt", choices=METHODS, help="bt (default), davidson (ties) or elo (online)")
    p.add_argument("--interval", default="auto", choices=("auto",) + INTERVALS,
                   help="auto (default: sandwich, bootstrap for elo), sandwich, hessian, bootstrap or none")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--rounds", type=int, default=200, help="bootstrap rounds (default 200)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--prior", type=float, default=0.0,
                   help="L2 prior on log-odds strengths (default 0: maximum likelihood; 1 when a model never lost)")
    p.add_argument("--baseline", default=None, help="also report length-controlled win rates against this model")


def add_parser(sub) -> None:
    p = sub.add_parser("arena", help="battles among models or checkpoints, ratings with intervals, report",
                       description="Pairwise battles, ratings with intervals (Bradley-Terry, Davidson, Elo), "
                                   "win rates, Nash views and an HTML report.")
    verbs = p.add_subparsers(dest="arena_verb", metavar="<rate|run|report>")
    r = verbs.add_parser("rate", help="ratings from a battle file (jsonl) or store (.db)")
    r.add_argument("file", help="FastChat-style jsonl (model_a, model_b, winner per line) or an arena .db")
    _rating_options(r)
    r.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    _lc_option(r)
    g = verbs.add_parser("run", help="answer prompts with each model, judge every pair both orders, rate, report")
    g.add_argument("--models", required=True, help="comma list of NAME=SOURCE or SOURCE: tiny[:SEED], smollm2, "
                                                   "a model folder or checkpoint")
    g.add_argument("--prompts", required=True, help="prompt file: .txt (one a line) or .jsonl (key prompt or "
                                                    "instruction)")
    g.add_argument("--judge", required=True, help="oracle spec (preflab.oracles.spec): length, task:NAME, "
                                                  "llm:MODEL@URL, reward-model:PATH, python:MODULE:NAME, ...")
    g.add_argument("--out", default=None, help="run folder (default runs/arena-<timestamp>)")
    g.add_argument("--max-new-tokens", type=int, default=64)
    g.add_argument("--temperature", type=float, default=0.7)
    _rating_options(g)
    o = verbs.add_parser("report", help="re-render report.html and ratings.json from an arena.db")
    o.add_argument("--db", required=True, help="the arena's SQLite store")
    o.add_argument("--out", default=None, help="folder (default: the store's folder)")
    o.add_argument("--judge", default=None, help="only this judge's battles")
    _rating_options(o)
    _lc_option(o)


def _lc_option(p) -> None:
    p.add_argument("--lc-difficulty", default=None, metavar="CSV",
                   help="instruction difficulty for the LC win rate (columns instruction, instruction_difficulty); "
                        "default: estimated from the battles, which makes it preflab's number, not AlpacaEval's")


def _interval(args) -> str:
    if args.interval == "auto":
        return "bootstrap" if args.method == "elo" else "sandwich"
    return args.interval


def _load_battles(path: str):
    from preflab.arena.store import Store, read_jsonl

    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file; give a jsonl battle file or an arena .db")
    if path.endswith((".db", ".sqlite", ".sqlite3")):
        with Store(path) as store:
            return store.battles()
    return read_jsonl(path)


def _read_prompts(path: str) -> list:
    if not os.path.exists(path):
        raise ValueError(f"--prompts {path}: no such file")
    prompts = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if path.endswith(".jsonl"):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
                text = row.get("prompt", row.get("instruction")) if isinstance(row, dict) else None
                if not isinstance(text, str):
                    raise ValueError(f"{path}:{lineno}: expected an object with a 'prompt' (or 'instruction') string")
                prompts.append(text)
            else:
                prompts.append(line.rstrip("\n"))
    if not prompts:
        raise ValueError(f"--prompts {path}: no prompts in the file")
    return prompts


def _print_table(summary: dict) -> None:
    print(f"{summary['method']} ratings, {summary['battles']} battles, interval {summary['interval']} "
          f"({summary['level']:.0%}); {summary['scale']}")
    print(f"{'rank':>4}  {'model':<28} {'rating':>8}  {'interval':>19}  {'battles':>7}  {'nash':>6}")
    for m, v in summary["ratings"].items():
        nash = summary["nash"][m]["nash_mass"]
        print(f"{v['rank']:>4}  {m:<28} {v['rating']:>8.1f}  [{v['lower']:>7.1f}, {v['upper']:>7.1f}]  "
              f"{v['battles']:>7}  {nash:>6.3f}")
    lcs = summary.get("length_controlled", {})
    for m, v in lcs.items():
        lc = "n/a (" + v["note"] + ")" if v["lc_win_rate"] is None else f"{100 * v['lc_win_rate']:.1f}%"
        print(f"LC win rate of {m}: {lc} (raw {100 * v['win_rate']:.1f}%, {v['battles']} battles, "
              f"instruction difficulty {v['difficulty_source']})")
    if lcs:
        from preflab.arena.report import lc_caption

        print(lc_caption(lcs))


def run(args) -> int:
    from preflab.arena.report import arena_summary, write_report

    if args.arena_verb is None:
        raise ValueError("say what to do: preflab arena rate FILE | run ... | report --db FILE")
    opts = dict(method=args.method, interval=_interval(args), level=args.level, rounds=args.rounds, seed=args.seed,
                prior=args.prior, baseline=args.baseline)
    if args.arena_verb == "rate":
        _, summary = arena_summary(_load_battles(args.file), **opts, lc_difficulty=args.lc_difficulty)
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            _print_table(summary)
        return 0
    if args.arena_verb == "report":
        from preflab.arena.store import Store

        if not os.path.exists(args.db):
            raise ValueError(f"--db {args.db}: no such file")
        with Store(args.db) as store:
            battles = store.battles(judge=args.judge)
        if not battles:
            raise ValueError(f"--db {args.db}: no battles" + (f" by judge {args.judge!r}" if args.judge else ""))
        out = args.out or os.path.dirname(os.path.abspath(args.db))
        summary = write_report(battles, out, **opts, lc_difficulty=args.lc_difficulty)
        _print_table(summary)
        print(f"report: {os.path.join(out, 'report.html')}", file=sys.stderr)
        return 0
    # run
    from datetime import datetime

    from preflab.arena.contestants import load_contestant, parse_contestants
    from preflab.arena.run import run_arena
    from preflab.oracles.spec import oracle_from_spec, spec_label

    sources = parse_contestants(args.models)
    prompts = _read_prompts(args.prompts)
    oracle = oracle_from_spec(args.judge, one_order=True)
    out = args.out or os.path.join("runs", "arena-" + datetime.now().strftime("%Y%m%d-%H%M%S"))
    # each contestant samples with its own seed (seed + position): tiny random models have near-uniform
    # next-token distributions, so one shared seed would make them answer alike
    contestants = {name: load_contestant(src, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                         seed=args.seed + k) for k, (name, src) in enumerate(sources.items())}
    os.makedirs(out, exist_ok=True)
    config = {k: v for k, v in vars(args).items() if k not in ("verb", "arena_verb")}
    config["judge"] = spec_label(args.judge)                       # an API key never reaches the run folder
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2)
    summary = run_arena(contestants, prompts, oracle, out, judge=spec_label(args.judge),
                        progress=lambda msg: print(msg, file=sys.stderr), **opts)
    _print_table(summary)
    print(f"{summary['added']} new battles in {os.path.join(out, 'arena.db')}; report: "
          f"{os.path.join(out, 'report.html')}", file=sys.stderr)
    return 0
