"""Discovery reproductions (issue 7, item 3). Not a test.

    .venv/bin/python benchmarks/discovery.py lrml       # DiscoPOP (LRML) vs DPO on the tiny-model frontier, beta sweep
    .venv/bin/python benchmarks/discovery.py search     # program search (budget 200, games), then held-out checks
    .venv/bin/python benchmarks/discovery.py throughput # 200 sandboxed validate jobs (--jobs 40: the old test's)
    .venv/bin/python benchmarks/discovery.py cpu-limit  # seconds until a 1 s CPU limit ends a busy loop

lrml: the tiny fidelity (:mod:`preflab.discover.tiny`) on the sentiment task, every loss at every beta of the
sweep (the sweep of BENCHMARKS.md's online-methods section), both losses from examples/discover run in the
sandbox: reward and KL per beta, and the frontier score at KL budgets of 1 and 3 nats.

search: ``preflab discover --proposer program --budget 200 --fidelity games`` into a run folder; the 5 best by
games fitness and DPO (and LRML) are then scored on the held-out games (``HELD_OUT_GAMES``: other seeds, sizes
and betas than the search games) and on the tiny model for two tasks the search never saw: sentiment with
another seed (another SFT model and other pairs) and the transitive task. The last line is one JSON object.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from preflab.discover.archive import Archive  # noqa: E402
from preflab.discover.file_proposer import read_candidates  # noqa: E402
from preflab.discover.fitness import HELD_OUT_GAMES  # noqa: E402
from preflab.discover.sandbox import Limits, Sandbox  # noqa: E402
from preflab.discover.search import DiscoverConfig, discover  # noqa: E402
from preflab.discover.tiny import frontier_score, prepare  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "discover"
SWEEP = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def _examples(*names):
    by_name = {p.name: p for p in read_candidates(EXAMPLES)}
    return [(n, by_name[n].code) for n in names]


def _tiny(candidates, bundle, betas, steps, workers):
    limits = Limits(wall_s=600.0, cpu_s=600.0, memory_mb=4096)
    args = {"bundle": bundle, "betas": list(betas), "steps": steps, "eval_samples": 48}
    with Sandbox(limits=limits, workers=workers, preload=("torch", "preflab.discover.tiny")) as sb:
        results = sb.map([(code, "preflab.discover.tiny:tiny", args) for _, code in candidates])
    out = {}
    for (name, _), r in zip(candidates, results):
        if not r.ok:
            out[name] = {"error": f"{r.reason}: {r.error}"}
            continue
        v = r.value
        pts = [(p["kl"], p["reward"]) for p in v["points"]]
        v["frontier_kl1"] = frontier_score(pts, v["sft_reward"], 1.0)
        v["frontier_kl3"] = frontier_score(pts, v["sft_reward"], 3.0)
        out[name] = v
    return out


def lrml(work: Path, workers: int):
    bundle = prepare(work / "sentiment-0", seed=0)
    res = _tiny(_examples("dpo", "lrml"), bundle, SWEEP, 40, workers)
    print(f"SFT reward {bundle['sft_reward']:.3f}")
    print(f"{'beta':>7} {'DPO reward / KL':>18} {'LRML reward / KL':>18}")
    for i, beta in enumerate(SWEEP):
        cells = [f"{res[n]['points'][i]['reward']:.3f} / {res[n]['points'][i]['kl']:.2f}" for n in ("dpo", "lrml")]
        print(f"{beta:>7} {cells[0]:>18} {cells[1]:>18}")
    for n in ("dpo", "lrml"):
        print(f"{n}: frontier gain at KL <= 1: {res[n]['frontier_kl1']:.3f}, at KL <= 3: {res[n]['frontier_kl3']:.3f}")
    return res


def search(work: Path, workers: int, budget: int):
    run = work / "search"
    t = time.perf_counter()
    best = discover(DiscoverConfig(proposer="program", budget=budget, fidelity=("games",), out=str(run),
                                   workers=workers, progress=False), log=lambda m: print(m, file=sys.stderr))
    search_s = time.perf_counter() - t
    with Archive(run / "archive.db") as db:
        top = db.best("games", 5)
    cands = [(r.name, r.code) for r in top]
    names = {r.name for r in top}
    cands += [c for c in _examples("dpo", "lrml") if c[0] not in names]
    formulas = {r.name: r.meta.get("formula") for r in top}
    search_fit = {r.name: r.fitness["games"] for r in top}
    with Sandbox(limits=Limits(wall_s=120.0, cpu_s=120.0, memory_mb=2048), workers=workers,
                 preload=("torch", "preflab.discover.fitness")) as sb:
        held = sb.map([(code, "preflab.discover.fitness:games", {"games": [list(g) for g in HELD_OUT_GAMES]})
                       for _, code in cands])
    held_out = {n: (r.value if r.ok else {"error": f"{r.reason}: {r.error}"}) for (n, _), r in zip(cands, held)}
    tasks = {}
    for task, seed in (("sentiment", 1), ("transitive", 0)):
        bundle = prepare(work / f"{task}-{seed}", seed=seed, task=task)
        tasks[task] = {"sft_reward": bundle["sft_reward"], "results": _tiny(cands, bundle, (0.1, 0.5, 1.0), 30, workers)}
    print(f"\nprogram search: {best['candidates']} candidates ({best['errors']} rejected) in {search_s:.0f} s")
    print(f"{'loss':<14}{'search games':>13}{'held-out games':>15}{'win / KL / gap (held out)':>28}"
          f"{'sentiment(s1) KL<=1':>21}{'transitive KL<=1':>18}  formula")
    for n, _ in cands:
        h = held_out[n]
        hs = f"{h['fitness']:.3f}" if "fitness" in h else "error"
        detail = f"{h['win']:.3f} / {h['kl']:.3f} / {h['gap']:.4f}" if "fitness" in h else h.get("error", "")[:26]
        t1 = tasks["sentiment"]["results"][n]
        t2 = tasks["transitive"]["results"][n]
        c1 = f"{t1['frontier_kl1']:.3f}" if "points" in t1 else "error"
        c2 = f"{t2['frontier_kl1']:.3f}" if "points" in t2 else "error"
        sf = f"{search_fit[n]:.3f}" if n in search_fit else "-"
        print(f"{n:<14}{sf:>13}{hs:>15}{detail:>28}{c1:>21}{c2:>18}  {formulas.get(n) or '(examples/discover)'}")
    return {"search_seconds": search_s, "best": best["best"], "held_out_games": held_out, "tasks": tasks}


def throughput(workers: int, n: int = 200) -> dict:
    """n validate jobs on DPO through Sandbox.map: the sandbox's cost per candidate."""
    (_, code), = _examples("dpo")
    t0 = time.perf_counter()
    with Sandbox(workers=workers, preload=("torch",)) as sb:
        started = time.perf_counter() - t0
        t1 = time.perf_counter()
        results = sb.map([(code, "preflab.discover.validate:validate", {"beta": 0.1})] * n)
        seconds = time.perf_counter() - t1
    ok = sum(r.ok for r in results)
    # the baseline: the same validate job in this process on the same (trusted) code, no sandbox
    from preflab.discover.candidate import candidate_function
    from preflab.discover.validate import validate

    loss_fn = candidate_function(code, trusted=True)
    t2 = time.perf_counter()
    for _ in range(n):
        validate(loss_fn, beta=0.1)
    direct = time.perf_counter() - t2
    print(f"{n} validate jobs: {seconds:.1f} s in the sandbox ({1000 * seconds / n:.0f} ms each), {ok} ok; "
          f"in-process {direct:.1f} s; sandbox / in-process = {seconds / direct:.2f}; workers started in {started:.1f} s")
    return {"jobs": n, "ok": ok, "seconds": seconds, "in_process_seconds": direct, "ratio": seconds / direct,
            "start_seconds": started}


def cpu_limit(workers: int, repeats: int = 3) -> dict:
    """How soon a CPU limit of 1 s ends an endless loop (the wall limit, 15 s, must not be what ends it)."""
    loop = "def f(batch, beta):\n    while True:\n        pass\n"
    limits = Limits(wall_s=15.0, cpu_s=1.0)
    seconds, reasons = [], []
    with Sandbox(limits=Limits(wall_s=20.0, cpu_s=20.0), workers=workers) as sb:
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = sb.run(loop, job="preflab.discover.validate:validate", limits=limits)
            seconds.append(time.perf_counter() - t0)
            reasons.append(r.reason)
    print(f"a 1 s CPU limit ended a busy loop in {', '.join(f'{x:.2f}' for x in seconds)} s (wall clock, "
          f"limit 15 s); reasons {reasons}")
    return {"seconds": seconds, "reasons": reasons}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["lrml", "search", "throughput", "cpu-limit"])
    ap.add_argument("--workdir", default="/tmp/preflab-discovery-bench")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=200, help="throughput: how many validate jobs")
    args = ap.parse_args()
    work = Path(args.workdir)
    t0 = time.perf_counter()
    if args.part == "throughput":
        result = throughput(args.workers, args.jobs)
    elif args.part == "cpu-limit":
        result = cpu_limit(args.workers)
    else:
        result = lrml(work, args.workers) if args.part == "lrml" else search(work, args.workers, args.budget)
    print(f"({time.perf_counter() - t0:.0f} s)")
    print(json.dumps({"part": args.part, "result": result}, default=str))


if __name__ == "__main__":
    main()
