"""``preflab serve``: an OpenAI-compatible HTTP server for a local model, and the human-voting page.

    preflab serve                                         # SmolLM2-135M-Instruct on http://127.0.0.1:8000/v1
    preflab serve --model runs/dpo/final --api-key KEY    # any checkpoint folder; Bearer KEY required
    preflab serve --model none --pairs cands.jsonl --db arena.db --vote-token T   # only the voting page

The API answers ``/v1/chat/completions``, ``/v1/completions`` (``stream: true`` too) and ``/v1/models``, so the
``openai`` client or ``preflab.oracles.LLMJudge(model, base_url="http://127.0.0.1:8000/v1")`` can use it. With
``--pairs`` (a jsonl of ``{"prompt": ..., "responses": {"model": "text", ...}}``) the page ``/arena`` shows
anonymous pairs; votes (with the token) go into the SQLite store ``--db`` and the page's leaderboard.
``--api-key`` and ``--vote-token`` may also come from ``PREFLAB_API_KEY`` / ``PREFLAB_VOTE_TOKEN``; without a
voting token one is generated and printed.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="an OpenAI-compatible server for a local model, and the human-voting page",
                       description="Serve a local causal LM over OpenAI's chat and completions API (streaming "
                                   "too), and optionally the arena's human-voting page with a live leaderboard.")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="smollm2",
                   help="smollm2 (default: the bundled SmolLM2-135M-Instruct), a checkpoint folder or .gguf file, a "
                        "Hub id in the local cache, tiny (a seeded random 2-layer model, for tests), or none")
    m.add_argument("--served-name", default=None, help="the model id clients send (default: the --model value)")
    m.add_argument("--device", default=None, help="where the model runs: cpu (default), cuda, cuda:1, mps, ...")
    m.add_argument("--dtype", default="float32", help="float32 (default), bfloat16, float16 or auto")
    s = p.add_argument_group("server")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    s.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' on /v1 (or PREFLAB_API_KEY)")
    s.add_argument("--seed", type=int, default=0, help="seed of the server's random choices (default 0)")
    s.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    v = p.add_argument_group("voting page")
    v.add_argument("--pairs", default=None, metavar="FILE.jsonl",
                   help='battle candidates, one line {"prompt": ..., "responses": {"model": "text", ...}}')
    v.add_argument("--db", default=None, help="SQLite store of the votes (default arena.db when --pairs is given)")
    v.add_argument("--vote-token", default=None,
                   help="token that voting requires (or PREFLAB_VOTE_TOKEN; default: a random one, printed)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args) -> int:
    def say(text: str) -> None:
        print(f"preflab serve: {text}", file=sys.stderr, flush=True)

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a port number; give 0-65535 (0: any free port)")
    if args.model.lower() != "none":
        from preflab.models import resolve_dtype

        resolve_dtype(args.dtype)                                       # a bad --dtype fails before anything loads
    api_key = args.api_key or os.environ.get("PREFLAB_API_KEY") or None
    pairs = store = None
    if args.pairs is not None:
        from preflab.serve.pairs import PairSource

        pairs = PairSource.from_jsonl(args.pairs, seed=args.seed)     # checked before the model loads
    if args.pairs is not None or args.db is not None:
        from preflab.arena.store import Store

        store = Store(args.db or "arena.db")
    try:
        _serve(args, api_key, pairs, store, say)
    finally:
        if store is not None:
            store.close()
    return 0


def _serve(args, api_key, pairs, store, say) -> None:
    from preflab.serve.app import create_app
    from preflab.serve.runner import serve_forever

    vote_token = args.vote_token or os.environ.get("PREFLAB_VOTE_TOKEN") or None
    if store is not None and vote_token is None:
        vote_token = secrets.token_urlsafe(12)
        say(f"voting token (none was given): {vote_token}")

    lm = None
    if args.model.lower() != "none":
        from preflab.serve.local_model import LocalModel, load_local_model

        say(f"loading {args.model} ...")
        model, tokenizer, name = load_local_model(args.model, seed=args.seed, device=args.device,
                                                 dtype=args.dtype)
        lm = LocalModel(model, tokenizer, name=args.served_name or name)
    if not _is_loopback(args.host) and api_key is None and lm is not None:
        say(f"warning: listening on {args.host} without --api-key: anyone who can reach it can use the model")

    app = create_app(lm, store=store, pairs=pairs, api_key=api_key, vote_token=vote_token, seed=args.seed)

    def ready(url: str) -> None:
        if lm is not None:
            say(f"model {lm.name!r} at {url}/v1 (chat/completions, completions, models)")
        if store is not None:
            say(f"voting page at {url}/arena (votes into {store.path}); leaderboard at {url}/arena/leaderboard")
        say(f"listening on {url}")

    serve_forever(app, args.host, args.port, log_level=args.log_level, on_ready=ready)
