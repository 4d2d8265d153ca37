"""Tabular MNPO: TD-MNPO against INPO on three game families, and HT-MNPO with 2 and 3 players.

    .venv/bin/python benchmarks/games_mnpo.py                  # ~1 min on 2 cores
    .venv/bin/python benchmarks/games_mnpo.py --seeds 10 --T 50

Part 1 (two players, N = 10, beta = 0.1, uniform reference except on the cyclic game): ``mnpo`` (TD-MNPO,
the last two iterates as opponents, uniform lambda: the released code's ``max_history_t = 2``; its step is
the exact minimizer of the regression it trains, win rate against pi_t), ``mnpo_eq10`` (the paper's Eq. 10
form, win rate against the opponents; for reference) and ``inpo``, on

* ``cyclic``: ``cyclic(10)`` with a skewed reference Dirichlet(2) drawn from the seed (with a uniform reference
  the uniform policy is the equilibrium and nothing moves);
* ``random``: ``random_preference(10, seed)``;
* ``mixture``: ``condorcet_mixture(10, seed=seed)``.

Each method runs exact (expected) dynamics for ``--T`` iterations and sampled dynamics (16 Bernoulli-labelled
draws per query, seeded) for ``--T-sampled``. Reported per game: the duality gap of the last iterate at T and the
area under the gap curve (sum of the gaps of iterates 0..T), each as a mean over the evaluation seeds 1..S with
a bootstrap 95% interval (10,000 resamples of the seeds, percentile), and the paired difference MNPO - INPO
(same game, same seed) with its interval; for the exact runs also the mean log10 ratio of the final gaps.

Step sizes are tuned per method and game family, fairly: every method gets the best eta of one grid
(``ETAS``, eta >= beta since the reference weight beta / eta must be <= 1), the best by the area under the
log10 gap curve (exact) or the mean gap over the second half of the run (sampled) on seed 0, which is not an
evaluation seed.

Part 2 (HT-MNPO): the general-sum game of ``condorcet_annotators(10, 3, seed=seed)``, one BT annotator type per
player (three utilities, temperature 0.1; their mean is the mixture game above). 2 players take types 0 and 1,
3 players all three. Both HT-MNPO forms: ``win="sampler"`` (the regression the code trains: each player's pairs
come from its own policy) and ``win="opponents"`` (Eq. 10's win rate against the other players); eta tuned on
seed 0 (the largest player gap at T), and at the papers' eta = 3 beta (r = 1/3); per-player gaps at T over
seeds 1..S. eta = beta (r = 1) drops the consensus anchor: the opponents form is then the players' simultaneous
best response.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from preflab.games import condorcet_annotators, condorcet_mixture, cyclic, random_preference, run_dynamics, \
    run_general_sum

BETA = 0.1
N = 10
ETAS = (0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0)
PAPER_ETA = 3 * BETA            # INPO's and MNPO's eta = 3 tau: reference weight r = 1/3
METHODS = {"mnpo": {"history": 2}, "mnpo_eq10": {"history": 2}, "inpo": {}}
SAMPLES = 16
BOOT = 10_000


def make_game(kind: str, seed: int):
    """(P, ref) of a family at a seed."""
    if kind == "cyclic":
        return cyclic(N), np.random.default_rng(seed).dirichlet(np.full(N, 2.0))
    if kind == "random":
        return random_preference(N, seed=seed), None
    return condorcet_mixture(N, seed=seed), None


def boot_ci(x, seed: int = 0):
    """Mean and percentile bootstrap 95% interval of the mean over the seeds."""
    x = np.asarray(x, dtype=np.float64)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(BOOT, len(x)))
    means = x[idx].mean(axis=1)
    return float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def fmt(m):
    mean, lo, hi = m
    return f"{mean:9.3g} [{lo:9.3g}, {hi:9.3g}]"


def run_two_player(kind, method, seed, eta, T, sampled):
    P, ref = make_game(kind, seed)
    traj = run_dynamics(P, method, BETA, ref=ref, iterations=T, sampled=sampled, samples=SAMPLES, seed=seed,
                        eta=eta, **METHODS[method])
    return traj.gaps


def tune(kind, method, T, sampled):
    """The eta of the grid with the best score on seed 0."""
    def score(eta):
        gaps = run_two_player(kind, method, 0, eta, T, sampled)
        if not np.all(np.isfinite(gaps)):
            return np.inf
        return float(np.mean(np.log10(np.maximum(gaps, 1e-16)))) if not sampled else float(gaps[T // 2:].mean())
    scores = {eta: score(eta) for eta in ETAS}
    return min(scores, key=scores.get)


def part_one(seeds, T, T_sampled):
    out = {}
    for sampled, steps in ((False, T), (True, T_sampled)):
        form = "sampled" if sampled else "exact"
        print(f"\n== two players, {form} dynamics, T = {steps}"
              + (f", {SAMPLES} draws per query" if sampled else "") + f", beta = {BETA}, N = {N}; "
              f"evaluation seeds 1..{len(seeds)}; mean [bootstrap 95%] ==")
        print(f"{'game':8s} {'method':10s} {'eta':>5s}  {'gap at T':>33s}  {'area under gap curve':>33s}")
        for kind in ("cyclic", "random", "mixture"):
            res = {}
            for method in METHODS:
                eta = tune(kind, method, steps, sampled)
                gaps = np.stack([run_two_player(kind, method, s, eta, steps, sampled) for s in seeds])
                res[method] = {"eta": eta, "final": gaps[:, -1], "auc": gaps.sum(axis=1)}
                print(f"{kind:8s} {method:10s} {eta:5g}  {fmt(boot_ci(gaps[:, -1]))}  {fmt(boot_ci(gaps.sum(axis=1)))}")
            for other in ("inpo", "mnpo_eq10"):
                d_final = res["mnpo"]["final"] - res[other]["final"]
                d_auc = res["mnpo"]["auc"] - res[other]["auc"]
                line = (f"{kind:8s} {'mnpo-' + other:15s} {fmt(boot_ci(d_final))}  {fmt(boot_ci(d_auc))}")
                if not sampled:
                    ratio = np.log10(np.maximum(res["mnpo"]["final"], 1e-16) / np.maximum(res[other]["final"], 1e-16))
                    line += f"  log10 ratio of gaps {fmt(boot_ci(ratio))}"
                print(line)
            out[f"{form}/{kind}"] = {m: {"eta": r["eta"], "gap_at_T": boot_ci(r["final"]), "auc": boot_ci(r["auc"])}
                                     for m, r in res.items()}
            out[f"{form}/{kind}"]["mnpo-inpo"] = {"gap_at_T": boot_ci(res["mnpo"]["final"] - res["inpo"]["final"]),
                                                  "auc": boot_ci(res["mnpo"]["auc"] - res["inpo"]["auc"])}
    return out


def part_two(seeds, T):
    print(f"\n== HT-MNPO: condorcet_annotators(10, 3), one annotator type per player, beta = {BETA}, exact, "
          f"T = {T}; per-player gap at T, mean [bootstrap 95%] over seeds 1..{len(seeds)} ==")
    out = {}
    for players in (2, 3):
        start = np.stack([run_general_sum(condorcet_annotators(N, 3, seed=s)[:players], beta=BETA,
                                          iterations=0).gaps[0] for s in seeds])
        print(f"{players} players, gap at ref (start): "
              + "  ".join(f"p{i} {fmt(boot_ci(start[:, i]))}" for i in range(players)))
        for win in ("sampler", "opponents"):
            def run(seed, eta):
                return run_general_sum(condorcet_annotators(N, 3, seed=seed)[:players], beta=BETA, iterations=T,
                                       every=T, eta=eta, win=win).gaps[-1]
            tuned = min(ETAS, key=lambda e: run(0, e).max())
            for label, eta in (("tuned", tuned), ("paper", PAPER_ETA)):
                gaps = np.stack([run(s, eta) for s in seeds])
                print(f"{players} players, win={win:9s} eta {eta:4g} ({label}): "
                      + "  ".join(f"p{i} {fmt(boot_ci(gaps[:, i]))}" for i in range(players))
                      + f"  mean {fmt(boot_ci(gaps.mean(axis=1)))}")
                out[f"{players}/{win}/{label}"] = {"eta": eta, "mean": boot_ci(gaps.mean(axis=1)),
                                                   "per_player": [boot_ci(gaps[:, i]) for i in range(players)]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="evaluation seeds 1..S (default 5; seed 0 tunes)")
    parser.add_argument("--T", type=int, default=30, help="iterations of the exact dynamics (default 30)")
    parser.add_argument("--T-sampled", type=int, default=300, help="iterations of the sampled dynamics (default 300)")
    parser.add_argument("--T-ht", type=int, default=300, help="iterations of HT-MNPO (default 300)")
    args = parser.parse_args()
    seeds = list(range(1, args.seeds + 1))
    t0 = time.perf_counter()
    print(f"games_mnpo benchmark: N = {N}, beta = {BETA}, eta grid {list(ETAS)}, seeds {seeds} (tuning: 0)")
    one = part_one(seeds, args.T, args.T_sampled)
    two = part_two(seeds, args.T_ht)
    seconds = time.perf_counter() - t0
    print(f"\n{seconds:.1f} s")
    print(json.dumps({"benchmark": "games_mnpo", "beta": BETA, "n": N, "seeds": seeds, "T": args.T,
                      "T_sampled": args.T_sampled, "T_ht": args.T_ht, "two_player": one, "ht_mnpo": two,
                      "seconds": seconds}))


if __name__ == "__main__":
    main()
