"""Bradley-Terry ratings with intervals on a large arena: preflab against a FastChat-style fit and evalica.

    .venv/bin/python benchmarks/ratings.py                       # 100 models x 1,000,000 battles, ~1 min on 2 cores
    .venv/bin/python benchmarks/ratings.py --models 50 --battles 200000 --repeat 5

One simulated arena (seeded): ``--models`` true ratings drawn from N(1000, 150^2) on the Elo scale, each
battle a uniformly drawn pair, the winner drawn from P(a beats b) = 1/(1+10^((R_b-R_a)/400)), and a fraction
``--ties`` of battles replaced by ties (ties count half a win each way in every fit). Every contender gets the
battles in its own natural input form, built before the clock starts, and the same data:

* ``preflab``: ``model_indices`` (names -> integer arrays) + ``rate_codes(..., method="bt",
  interval="sandwich")``: counts aggregated into the 100 x 100 pair matrix, scipy ``trust-exact`` with the
  exact Hessian, sandwich covariance (timed from the name lists to the intervals; ``preflab (fit only)``
  is the same without the interval);
* ``fastchat-style``: what FastChat's ``compute_mle_elo`` does, logistic regression of the outcome on the
  per-battle design matrix (+1 for model_a, -1 for model_b, one row per battle, ties as y = 1/2, which is
  FastChat's duplicated tie rows), here a scipy sparse matrix and ``scipy.optimize.minimize(L-BFGS-B)`` with
  tight tolerances (sklearn is not installed; FastChat uses sklearn's lbfgs with ``penalty=None``), plus the
  same sandwich computed from the per-battle rows (FastChat itself bootstraps: 100 such fits);
* ``evalica``: ``evalica.bradley_terry(xs, ys, winners)`` (Rust, Newman's iteration), with its defaults
  (``tolerance=1e-6, limit=100``) and tightened (``--evalica-tol``, ``--evalica-limit``); it gives no interval.

All ratings are put on one scale (R = 1000 + 400/ln 10 * (theta - mean theta)); the table shows wall time
(best of ``--repeat``), time relative to preflab, and max |R - R_preflab| in rating points. The last line is
one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit, log_expit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from preflab.arena.intervals import centred_cov, z_value                        # noqa: E402
from preflab.arena.pairs import model_indices                                   # noqa: E402
from preflab.arena.ratings import SCALE, rate_codes, ratings_from_theta         # noqa: E402


def simulate(n_models: int, n_battles: int, ties: float, seed: int):
    rng = np.random.default_rng(seed)
    true = rng.normal(1000.0, 150.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    p = 1.0 / (1.0 + 10.0 ** ((true[b] - true[a]) / 400.0))
    codes = np.where(rng.random(n_battles) < p, 0, 1)
    codes = np.where(rng.random(n_battles) < ties, 2, codes)
    names = [f"model_{i:03d}" for i in range(n_models)]
    return true, [names[i] for i in a], [names[i] for i in b], codes


def preflab_fit(xs, ys, codes, interval: str):
    models, a, b = model_indices(xs, ys)
    r = rate_codes(a, b, codes, models, method="bt", interval=interval)
    return dict(zip(models, r.rating)), dict(zip(models, r.upper - r.rating))


def fastchat_style(xs, ys, codes, level: float = 0.95):
    """Per-battle logistic regression (FastChat's compute_mle_elo design) + sandwich from the same rows."""
    models, a, b = model_indices(xs, ys)
    m, n = len(a), len(models)
    rows = np.repeat(np.arange(m), 2)
    cols = np.stack([a, b], axis=1).ravel()
    vals = np.tile([1.0, -1.0], m)
    X = sparse.csr_matrix((vals, (rows, cols)), shape=(m, n))
    y = np.array([1.0, 0.0, 0.5, 0.5])[codes]

    def f(beta):
        z = X @ beta
        loss = -np.sum(y * log_expit(z) + (1 - y) * log_expit(-z)) / m
        grad = X.T @ (expit(z) - y) / m
        return loss, grad

    res = minimize(f, np.zeros(n), jac=True, method="L-BFGS-B",
                   options={"maxiter": 20000, "gtol": 1e-15, "ftol": 0.0, "maxcor": 30})
    beta = res.x
    q = expit(X @ beta)
    H = (X.T @ sparse.diags(q * (1 - q)) @ X).toarray()
    B = (X.T @ sparse.diags((y - q) ** 2) @ X).toarray()
    cov = centred_cov(H, B, n)
    half = z_value(level) * SCALE * np.sqrt(np.diag(cov))
    return dict(zip(models, ratings_from_theta(beta))), dict(zip(models, half)), int(res.nit)


def evalica_fit(xs, ys, winners, tolerance: float, limit: int):
    import evalica

    res = evalica.bradley_terry(xs, ys, winners, tolerance=tolerance, limit=limit)
    theta = np.log(res.scores.to_numpy())
    return dict(zip(res.scores.index, ratings_from_theta(theta))), int(res.iterations)


def best_time(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--battles", type=int, default=1_000_000)
    ap.add_argument("--ties", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (FastChat-style: 1 run)")
    ap.add_argument("--evalica-tol", type=float, default=1e-12)
    ap.add_argument("--evalica-limit", type=int, default=100000)
    args = ap.parse_args(argv)

    true, xs, ys, codes = simulate(args.models, args.battles, args.ties, args.seed)
    import evalica
    winners = [evalica.Winner.X if c == 0 else evalica.Winner.Y if c == 1 else evalica.Winner.Draw for c in codes]

    results = {}
    t, (ref, ref_half) = best_time(lambda: preflab_fit(xs, ys, codes, "sandwich"), args.repeat)
    results["preflab"] = {"seconds": t, "max_abs_diff": 0.0, "interval": True}
    t, (fit_only, _) = best_time(lambda: preflab_fit(xs, ys, codes, "none"), args.repeat)
    results["preflab (fit only)"] = {"seconds": t, "max_abs_diff": 0.0, "interval": False}
    t, (fc, fc_half, nit) = best_time(lambda: fastchat_style(xs, ys, codes), 1)
    results["fastchat-style"] = {"seconds": t, "iterations": nit, "interval": True,
                                 "max_abs_diff": max(abs(fc[m] - ref[m]) for m in ref),
                                 "max_interval_diff": max(abs(fc_half[m] - ref_half[m]) for m in ref)}
    t, (ev, it) = best_time(lambda: evalica_fit(xs, ys, winners, 1e-6, 100), args.repeat)
    results["evalica (defaults)"] = {"seconds": t, "iterations": it, "interval": False,
                                     "max_abs_diff": max(abs(ev[m] - ref[m]) for m in ref)}
    t, (ev2, it2) = best_time(lambda: evalica_fit(xs, ys, winners, args.evalica_tol, args.evalica_limit), args.repeat)
    results[f"evalica (tol {args.evalica_tol:g})"] = {"seconds": t, "iterations": it2, "interval": False,
                                                     "max_abs_diff": max(abs(ev2[m] - ref[m]) for m in ref)}
    base = results["preflab"]["seconds"]
    print(f"{args.models} models x {args.battles:,} battles ({args.ties:.0%} ties), seed {args.seed}; "
          f"best of {args.repeat} (FastChat-style: 1)")
    print(f"{'method':<26} {'seconds':>9} {'x preflab':>10} {'max |dR| vs preflab':>20}  interval")
    for name, r in results.items():
        print(f"{name:<26} {r['seconds']:>9.3f} {r['seconds'] / base:>10.2f} {r['max_abs_diff']:>20.2e}  "
              f"{'sandwich' if r['interval'] else '-'}" + (f"  ({r['iterations']} iterations)" if "iterations" in r else ""))
    centred = true - true.mean() + 1000.0
    err = max(abs(ref[m] - centred[i]) for i, m in enumerate(sorted(ref)))
    print(f"preflab vs the true ratings (centred): max |dR| = {err:.2f} points (ties at 1/2 pull ratings toward "
          f"the mean: the simulation's ties are not Bradley-Terry's); mean 95% half-width "
          f"{np.mean(list(ref_half.values())):.2f}; FastChat-style sandwich half-widths differ by at most "
          f"{results['fastchat-style']['max_interval_diff']:.2e}")
    print(json.dumps({"models": args.models, "battles": args.battles, "ties": args.ties, "seed": args.seed,
                      "results": results, "max_abs_diff_true": err}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
