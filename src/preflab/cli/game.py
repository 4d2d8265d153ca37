"""``preflab game``: an exact tabular preference game, its certified equilibrium, and the dynamics of the
online algorithms on it, with their duality gaps, win rates and plots.

    preflab game                                              # random game, N = 10, beta = 0.1, default set
    preflab game --preference cyclic --n 3 --ref 0.6,0.3,0.1 --algorithms all   # every dynamic, and the simplex
    preflab game --preference-file P.npy --beta 0 --json      # a matrix of your own; result.json on stdout

The run folder (``--out``, default ``runs/game-<timestamp>``) receives ``result.json`` (the game, its
equilibrium and certified gap, and each algorithm's final figures), ``metrics.jsonl`` (every recorded
iteration's gaps) and the plots ``gap.png``, ``winrates.png`` and, for N = 3, ``simplex.png``.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
import time
from datetime import datetime

import numpy as np

DEFAULT_ALGORITHMS = ("nash_md", "inpo", "mnpo", "egpo", "online_ipo", "sppo", "rlhf_bt")
DEFAULT_ALGORITHMS_BETA0 = ("sppo", "spo", "onpo", "dno")     # beta = 0: the unregularized dynamics only
RECORDED_ROWS = 500                                            # --every's default keeps about this many rows


def add_parser(sub) -> None:
    p = sub.add_parser("game", help="tabular games: exact Nash, duality gaps, algorithm dynamics, plots",
                       description="Solve a tabular preference game exactly (certified regularized Nash "
                                   "equilibrium), run the online preference-optimization dynamics on it, and "
                                   "write their duality gaps, win rates and plots to a run folder.")
    g = p.add_argument_group("the game")
    g.add_argument("--preference", default="random", metavar="KIND",
                   help="preference family: random (default), cyclic, bt, mixture")
    g.add_argument("--preference-file", metavar="FILE",
                   help="a preference matrix instead: .npy, .csv, or .json (a list of rows, or an object with "
                        "'P', such as a result.json); N is its size")
    g.add_argument("--n", type=int, default=None, help="number of responses (default 10)")
    g.add_argument("--beta", type=float, default=0.1, help="KL regularization toward the reference (default 0.1)")
    g.add_argument("--ref", default=None,
                   help="reference policy: a comma list of N probabilities or a .npy/.csv/.json file "
                        "(default uniform)")
    g.add_argument("--seed", type=int, default=0, help="seed of the random families and of --sampled draws")
    d = p.add_argument_group("the dynamics")
    d.add_argument("--algorithms", default=None, metavar="A,B,...",
                   help=f"comma list of algorithms (or 'all'; 'objective:<name>' trains any registered "
                        f"objective); default {','.join(DEFAULT_ALGORITHMS)} "
                        f"({','.join(DEFAULT_ALGORITHMS_BETA0)} at beta 0)")
    d.add_argument("--iterations", type=int, default=None, help="iterations of every algorithm (default: each "
                                                                "algorithm's own)")
    d.add_argument("--sampled", action="store_true", help="finite-sample dynamics: preference bits drawn from P")
    d.add_argument("--samples", type=int, default=16, help="draws per step with --sampled (default 16)")
    d.add_argument("--every", type=int, default=None,
                   help=f"record every k-th iteration (default: about {RECORDED_ROWS} rows per algorithm)")
    o = p.add_argument_group("output")
    o.add_argument("--out", default=None, help="run folder (default runs/game-<timestamp>)")
    o.add_argument("--json", action="store_true", help="print result.json to stdout (and nothing else)")
    o.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def run(args) -> int:
    from tqdm import tqdm

    from preflab.games import duality_gap, kl, regularized_nash, run_dynamics
    from preflab.games.dynamics import get_algorithm

    P, kind = _game_matrix(args)
    n = P.shape[0]
    beta = _beta(args.beta)
    ref = _reference(args.ref, n)
    if kind == "cyclic" and args.ref is None:
        print("preflab game: note: the uniform reference is the cyclic game's equilibrium, so every algorithm "
              "starts (and stays) there; give --ref to start elsewhere", file=sys.stderr)
    names = _algorithms(args.algorithms, beta)
    algos = [get_algorithm(name) for name in names]
    for flag, value, low in (("--iterations", args.iterations, 0), ("--samples", args.samples, 1),
                             ("--every", args.every, 1)):
        if value is not None and value < low:
            raise ValueError(f"{flag} must be an integer >= {low}, got {value}")
    out = _run_folder(args.out)

    equilibrium = regularized_nash(P, beta, ref)
    result = {
        "game": {"kind": kind, "file": args.preference_file, "n": n, "beta": beta, "seed": args.seed,
                 "P": P.tolist(), "ref": ref.tolist(), "equilibrium": equilibrium.tolist(),
                 "equilibrium_gap": duality_gap(P, equilibrium, beta, ref)},
        "settings": {"algorithms": names, "iterations": args.iterations, "sampled": args.sampled,
                     "samples": args.samples if args.sampled else None, "every": args.every},
        "algorithms": {},
        "files": ["result.json", "metrics.jsonl"],
    }

    iterations = [a.default_iterations if args.iterations is None else args.iterations for a in algos]
    trajectories = []
    with tqdm(total=sum(iterations), desc="preflab game", unit="it", file=sys.stderr,
              dynamic_ncols=True) as bar:
        for algo, name, steps in zip(algos, names, iterations):
            bar.set_postfix_str(name)
            every = args.every or max(1, steps // RECORDED_ROWS)
            start = time.perf_counter()
            traj = run_dynamics(P, name, beta, ref, iterations=steps, sampled=args.sampled,
                                samples=args.samples, seed=args.seed, every=every, callback=lambda t: bar.update(1))
            summary = traj.summary(P)
            summary.update(averaged_policy=traj.averaged[-1].tolist(), target=algo.target,
                           win_rate_vs_equilibrium=float(traj.last @ P @ equilibrium),
                           kl_to_equilibrium=kl(traj.last, equilibrium), every=every,
                           seconds=time.perf_counter() - start)
            result["algorithms"][name] = summary
            trajectories.append(traj)

    with open(os.path.join(out, "metrics.jsonl"), "w") as f:
        for name, traj in zip(names, trajectories):
            for it, g, ag in zip(traj.iterations, traj.gaps, traj.avg_gaps):
                f.write(json.dumps(_finite({"algorithm": name, "iteration": int(it), "duality_gap": float(g),
                                            "avg_duality_gap": float(ag)})) + "\n")
    if not args.no_plots:
        result["files"] += _plots(trajectories, P, equilibrium, out)
    text = json.dumps(_finite(result), indent=2, allow_nan=False)
    with open(os.path.join(out, "result.json"), "w") as f:
        f.write(text + "\n")

    if args.json:
        print(text)
    else:
        _print_table(result, out)
    return 0


# --------------------------------------------------------------------------------------------------- inputs

def _game_matrix(args) -> tuple[np.ndarray, str]:
    """(P, kind): from --preference-file, or the --preference family at --n and --seed."""
    from preflab.games import PREFERENCES, check_preference, make_preference

    if args.preference_file:
        try:
            P = check_preference(_read_array(args.preference_file, key="P"))
        except ValueError as err:
            raise ValueError(f"--preference-file {args.preference_file}: {err}") from None
        if args.n is not None and args.n != P.shape[0]:
            raise ValueError(f"--n {args.n} disagrees with --preference-file {args.preference_file}, which has "
                             f"N = {P.shape[0]}: drop --n")
        return P, "file"
    if args.preference not in PREFERENCES:
        near = difflib.get_close_matches(args.preference, list(PREFERENCES), n=1, cutoff=0.5)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise ValueError(f"--preference '{args.preference}' is unknown{hint} (choose from "
                         f"{', '.join(sorted(PREFERENCES))}, or give --preference-file)")
    n = 10 if args.n is None else args.n
    low = 3 if args.preference == "cyclic" else 2
    if n < low:
        raise ValueError(f"--n {n}: a {args.preference} game needs at least {low} responses")
    return make_preference(args.preference, n, seed=args.seed), args.preference


def _read_array(path: str, key: str) -> np.ndarray:
    """A numeric array from .npy, .csv (comma-separated rows) or .json (a list, or an object with ``key``,
    also under ``game``, as in a result.json)."""
    if not os.path.isfile(path):
        raise ValueError("no such file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npy":
            return np.load(path, allow_pickle=False).astype(np.float64)
        if ext == ".csv":
            return np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
        if ext == ".json":
            with open(path) as f:
                data = json.load(f)
            if isinstance(data, dict):
                data = data.get(key, data.get("game", {}).get(key) if isinstance(data.get("game"), dict) else None)
                if data is None:
                    raise ValueError(f"a JSON object needs a '{key}' entry")
            return np.asarray(data, dtype=np.float64)
    except (OSError, TypeError, ValueError) as err:
        raise ValueError(f"could not read it as a numeric {ext} array ({err})") from None
    raise ValueError(f"unknown extension '{ext}': use .npy, .csv or .json")


def _beta(beta: float) -> float:
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"--beta must be a finite number >= 0, got {beta}")
    return float(beta)


def _reference(value, n: int) -> np.ndarray:
    """Uniform, a comma list, or a file; every response needs positive probability (the dynamics take logs)."""
    from preflab.games import check_policy

    if value is None:
        return np.full(n, 1.0 / n)
    try:
        if os.path.splitext(value)[1].lower() in (".npy", ".csv", ".json"):
            ref = _read_array(value, key="ref").ravel()
        else:
            try:
                ref = np.array([float(x) for x in value.split(",")])
            except ValueError:
                raise ValueError("is neither a comma list of numbers nor a .npy/.csv/.json file") from None
        ref = check_policy(ref, n, "ref")
    except ValueError as err:
        raise ValueError(f"--ref {value}: {err}") from None
    if np.any(ref <= 0):
        raise ValueError(f"--ref {value}: ref[{int(np.argmin(ref))}] = 0, but every response needs positive "
                         "probability (the dynamics take log ref)")
    return ref


def _algorithms(value, beta: float) -> list[str]:
    """The algorithm names, checked (unknown names raise with the nearest valid one; regularized dynamics
    need beta > 0)."""
    from preflab.games import ALGORITHMS
    from preflab.games.dynamics import get_algorithm

    if value is None:
        return list(DEFAULT_ALGORITHMS if beta > 0 else DEFAULT_ALGORITHMS_BETA0)
    if value.strip() == "all":
        names = [name for name, a in ALGORITHMS.items() if beta > 0 or not a.regularized]
        if beta == 0:
            print("preflab game: at --beta 0 'all' runs the unregularized dynamics only: " + ", ".join(names),
                  file=sys.stderr)
        return names
    names = list(dict.fromkeys(x.strip() for x in value.split(",") if x.strip()))
    if not names:
        raise ValueError("--algorithms is empty: give a comma list of algorithms, or 'all'")
    for name in names:
        try:
            algo = get_algorithm(name)
        except ValueError as err:
            raise ValueError(f"--algorithms: {err}") from None
        if algo.regularized and beta == 0:
            free = ", ".join(n for n, a in ALGORITHMS.items() if not a.regularized)
            raise ValueError(f"--algorithms: {name} regularizes toward the reference and needs --beta > 0; at "
                             f"--beta 0 use {free}")
    return names


def _run_folder(out) -> str:
    if out is None:
        base = os.path.join("runs", "game-" + datetime.now().strftime("%Y%m%d-%H%M%S"))
        out, k = base, 1
        while os.path.exists(out):
            k += 1
            out = f"{base}-{k}"
    if os.path.exists(out) and not os.path.isdir(out):
        raise ValueError(f"--out {out} is a file, not a folder")
    os.makedirs(out, exist_ok=True)
    return out


# -------------------------------------------------------------------------------------------------- outputs

def _plots(trajectories, P, equilibrium, out) -> list[str]:
    from preflab.games.plots import plot_gaps, plot_simplex, plot_win_rates

    files = [os.path.basename(plot_gaps(trajectories, os.path.join(out, "gap.png"))),
             os.path.basename(plot_win_rates(trajectories, P, os.path.join(out, "winrates.png"), equilibrium))]
    if P.shape[0] == 3:
        files.append(os.path.basename(plot_simplex(trajectories, P, os.path.join(out, "simplex.png"), equilibrium)))
    return files


def _finite(obj):
    """JSON has no inf or nan: such numbers become null (an infinite gap or KL means the policy left the
    reference's support)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _print_table(result: dict, out: str) -> None:
    game = result["game"]
    source = game["file"] or f"{game['kind']}, seed {game['seed']}"
    print(f"game: {source}, N = {game['n']}, beta = {game['beta']:g}; equilibrium certified to duality gap "
          f"{game['equilibrium_gap']:.1e}")
    rows = [("algorithm", "iters", "gap (last)", "gap (avg)", "win vs ref", "win vs eq", "KL to ref")]
    for name, s in result["algorithms"].items():
        rows.append((name, str(s["iterations"]), _fmt(s["duality_gap"]), _fmt(s["avg_duality_gap"]),
                     _fmt(s["win_rate_vs_ref"], ".4f"), _fmt(s["win_rate_vs_equilibrium"], ".4f"),
                     _fmt(s["kl_to_ref"], ".4f")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"run folder: {out} ({', '.join(result['files'])})")


def _fmt(x, spec: str = ".2e") -> str:
    """A table cell: None (an infinite value in the JSON) as inf, rounding noise around 0 as 0."""
    if x is None:
        return "inf"
    return format(0.0 if abs(x) < 1e-15 else x, spec)
