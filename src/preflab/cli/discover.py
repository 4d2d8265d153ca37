"""``preflab discover``: objective discovery (program search, an LLM, or a file of candidates) in a sandbox,
scored on exact games and a tiny model; a run folder with archive.db, report.html, best.json and best/*.py."""

from __future__ import annotations

import os
import sys

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("discover", help="discover preference objectives (program search, LLM, file) in a sandbox",
                       description=__doc__)
    p.add_argument("--proposer", choices=["program", "llm", "file"], default="program")
    p.add_argument("--file", help="--proposer file: a .py file or folder of candidate losses")
    p.add_argument("--endpoint", help="--proposer llm: OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", help="--proposer llm: the model name to ask")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    p.add_argument("--budget", type=int, default=200, help="candidates to archive in all (default 200)")
    p.add_argument("--fidelity", default="games", help="games or games,tiny (default games)")
    p.add_argument("--out", default="runs/discover", help="run folder (a rerun resumes it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="sandbox workers (default 2)")
    p.add_argument("--per-generation", type=int, default=16, help="candidates per generation (default 16)")
    p.add_argument("--top-k", type=int, default=4, help="how many of the best move up to the tiny model")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from preflab.discover.search import DiscoverConfig, discover

    config = DiscoverConfig(proposer=args.proposer, budget=args.budget,
                            fidelity=tuple(f.strip() for f in args.fidelity.split(",") if f.strip()),
                            out=args.out, seed=args.seed, workers=args.workers, per_generation=args.per_generation,
                            top_k=args.top_k, file=args.file, endpoint=args.endpoint, model=args.model,
                            api_key=os.environ.get(args.api_key_env), progress=not args.no_progress)
    discover(config, log=lambda msg: print(msg, file=sys.stderr))
    return 0
