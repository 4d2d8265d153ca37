"""Tabular games: preflab's equilibrium solvers and duality gap against plain scipy and nashpy.

    .venv/bin/python benchmarks/games.py                          # N = 10, 100, 1000: ~8 min on 2 cores
    .venv/bin/python benchmarks/games.py --sizes 10,100 --repeat 7
    .venv/bin/python benchmarks/games.py --kind cyclic --betas 0.1

One invocation, one game per N (``make_preference(kind, N, seed)``, ``random`` by default: the family whose
maximal lottery has the largest support, about N/2), times three tasks and prints a table, then, as its last
line, one JSON object with every figure:

* ``nash`` at beta = 0 (the maximal lottery, an LP):
    - ``preflab``: ``regularized_nash(P, 0)`` (= ``maximal_lottery``, HiGHS, certified);
    - ``scipy_linprog``: the textbook max-min LP on the payoff matrix itself,
      ``max v  s.t.  P^T x >= v 1,  1^T x = 1,  x >= 0``, ``scipy.optimize.linprog`` with its default method;
    - ``nashpy_lp``: ``nashpy.Game(A, -A).linear_program()`` with ``A = P - 1/2`` (zero sum): nashpy's
      public call, which solves one LP per player (both are timed: that is what the call costs);
    - ``preflab_lp_ipm``, ``small_lp_highs``, ``small_lp_ipm`` (skip with ``--no-lp-variants``): what
      ``maximal_lottery`` would cost with HiGHS's interior-point method, or with the smaller formulation
      ``max 1^T y  s.t.  P y <= 1,  y >= 0`` (N variables and N rows, no equality row, no free variable;
      ``y / 1^T y`` is a maximal lottery) under HiGHS's default (dual simplex) or interior point;
    - ``nashpy_lemke_howson``: ``Game(A, -A).lemke_howson(0)``, only for N <= ``--lh-max-n`` (12): nashpy's
      integer pivoting on floating-point payoffs overflows to NaN from N = 14 on (or, lexicographic, gives
      no answer within 20 s), so larger N are skipped and the table says so.
* ``nash`` at beta > 0 (the regularized equilibrium, uniform reference):
    - ``preflab``: ``regularized_nash(P, beta)`` (Newton + continuation, certified to DG <= 1e-10);
    - ``mirror_descent``: plain first-order minimization of the convex DG over the simplex, entropic
      mirror descent with backtracking (``w <- w - eta grad DG`` in log-probabilities, a step kept only if DG
      falls), until DG <= 1e-10 (or 100,000 steps / ``--budget`` seconds). The plain damped best-response
      iteration ``w <- (1 - a) w + a (log ref + P pi / beta)`` is not used: it is not a descent method on DG
      (with a halved whenever the best DG stalled, it never got below the uniform start's DG of 0.14 at
      N = 10, beta = 0.01, in 50,000 steps);
    - ``scipy_slsqp``: ``scipy.optimize.minimize(DG, method="SLSQP")`` over the simplex with the analytic
      gradient, only for N <= ``--slsqp-max-n`` (100): at N = 1000 one solve takes minutes.
  The ``gap`` column is each answer's duality gap by ``preflab.games.duality_gap``.
* ``gap``: the duality gap of a fixed policy (a Dirichlet(1) draw), at beta = 0 and each beta:
    - ``preflab``: ``duality_gap(P, pi, beta)`` (closed form; validates P and pi on every call);
    - ``naive``: both halves solved as optimization problems, without the game's symmetry:
      ``max_pi1 J(pi1, pi) - min_pi2 J(pi, pi2)``, each best response by ``linprog`` (beta = 0) or by
      ``scipy.optimize.minimize(L-BFGS-B)`` over softmax logits (beta > 0). The ``gap`` column is
      |naive - preflab|.

Times are the best of ``--repeat`` measurements (each a batch of calls lasting >= 20 ms, timeit's autorange),
cut short when one method's measurements pass ``--budget`` seconds (at least one always runs; the ``runs``
column says how many did). ``speedup`` = the method's best time / preflab's: above 1, preflab is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
import scipy
from scipy.optimize import linprog, minimize
from scipy.special import logsumexp, softmax

from preflab.games import duality_gap, make_preference, regularized_nash

try:
    import nashpy
except ImportError:          # the `bench` extra installs it; without it the nashpy rows say so
    nashpy = None

TOL = 1e-10


# ------------------------------------------------------------------------------------------------- timing

def best_of(fn, repeat: int, budget: float):
    """(best seconds per call, measurements taken, fn's result). Each measurement times a batch of calls
    lasting >= 20 ms; measurements stop after ``repeat`` or once their total passes ``budget`` seconds."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    number = max(1, int(0.02 / max(first, 1e-9)))
    best, runs, spent = first, 1, first
    while runs < repeat and spent < budget:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - t0
        best, runs, spent = min(best, elapsed / number), runs + 1, spent + elapsed
    return best, runs, result


# ------------------------------------------------------------------------------------------------ baselines

def textbook_maxmin(P) -> np.ndarray:
    """max v s.t. P^T x >= v 1, 1^T x = 1, x >= 0 (variables x, v), scipy's default linprog method."""
    n = P.shape[0]
    res = linprog(c=np.r_[np.zeros(n), -1.0], A_ub=np.c_[-P.T, np.ones(n)], b_ub=np.zeros(n),
                  A_eq=np.r_[np.ones(n), 0.0][None, :], b_eq=[1.0], bounds=[(0, None)] * n + [(None, None)])
    return _normalize(res.x[:n])


def preflab_lp(P, method: str) -> np.ndarray:
    """preflab's maximal-lottery LP (``max v s.t. (P - 1/2)^T pi >= v, 1^T pi = 1``) with another HiGHS method."""
    n = P.shape[0]
    res = linprog(c=np.r_[np.zeros(n), -1.0], A_ub=np.c_[-(P - 0.5).T, np.ones(n)], b_ub=np.zeros(n),
                  A_eq=np.r_[np.ones(n), 0.0][None, :], b_eq=[1.0], bounds=[(0, None)] * n + [(None, None)],
                  method=method)
    return _normalize(res.x[:n])


def small_lp(P, method: str) -> np.ndarray:
    """The smaller LP of the same game: ``max 1^T y s.t. P y <= 1, y >= 0`` (N variables and N rows; no
    equality row, no free variable; valid because the game's value, 1/2, is positive). ``y / 1^T y`` is the
    column player's minimax strategy, P q <= 1/2, i.e. P^T q >= 1/2: a maximal lottery."""
    n = P.shape[0]
    return _normalize(linprog(c=-np.ones(n), A_ub=P, b_ub=np.ones(n), bounds=(0, None), method=method).x)


def nashpy_lp(P) -> np.ndarray:
    """nashpy's zero-sum LP (one per player) on A = P - 1/2; the row player's strategy."""
    A = P - 0.5
    row, _ = nashpy.Game(A, -A).linear_program()
    return _normalize(row)


def nashpy_lemke_howson(P) -> np.ndarray:
    """nashpy's Lemke-Howson (integer pivoting, lexicographic), first label dropped."""
    A = P - 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row, _ = nashpy.Game(A, -A).lemke_howson(initial_dropped_label=0)
    return _normalize(row)


def _dg(P, pi, beta, log_ref, u=None) -> float:
    """The duality gap in closed form without input checks (the baselines' stopping test)."""
    u = P @ pi if u is None else u
    if beta == 0:
        return 2.0 * float(u.max()) - 1.0
    m = pi > 0
    return 2.0 * (beta * float(logsumexp(log_ref + u / beta))
                  + beta * float(np.sum(pi[m] * (np.log(pi[m]) - log_ref[m])))) - 1.0


def mirror_descent(P, beta, budget: float, max_iter: int = 100_000) -> np.ndarray:
    """Entropic mirror descent on the convex DG over the simplex, with backtracking:
    ``w <- w - eta grad DG(pi)`` in log-probabilities (renormalized), ``grad DG = 2 (P^T BR(pi) + beta
    (log pi - log ref + 1))``; a step is kept only if DG falls (eta halves until it does, then grows by 1.5).
    Stops at DG <= 1e-10, after max_iter steps or budget seconds."""
    n = P.shape[0]
    log_ref = np.full(n, -np.log(n))
    w, eta = log_ref.copy(), 1.0
    u = P @ np.exp(w)
    g = _dg(P, np.exp(w), beta, log_ref, u)
    deadline = time.perf_counter() + budget
    for _ in range(max_iter):
        if g <= TOL or time.perf_counter() > deadline:
            break
        grad = 2.0 * (P.T @ softmax(log_ref + u / beta) + beta * (w - log_ref))
        while eta > 1e-14:
            cand = w - eta * grad
            cand -= logsumexp(cand)
            u_cand = P @ np.exp(cand)
            g_cand = _dg(P, np.exp(cand), beta, log_ref, u_cand)
            if g_cand < g:
                break
            eta /= 2
        else:
            break
        w, u, g, eta = cand, u_cand, g_cand, eta * 1.5
    return np.exp(w)


def slsqp(P, beta) -> np.ndarray:
    """scipy.optimize.minimize(DG, SLSQP) over the simplex (analytic gradient), from the reference."""
    n = P.shape[0]
    log_ref = np.full(n, -np.log(n))

    def f(x):
        return _dg(P, np.clip(x, 1e-300, None), beta, log_ref)

    def grad(x):
        x = np.clip(x, 1e-300, None)
        return 2.0 * (P.T @ softmax(log_ref + P @ x / beta) + beta * (np.log(x) - log_ref + 1.0))

    res = minimize(f, np.exp(log_ref), jac=grad, method="SLSQP", bounds=[(0.0, 1.0)] * n,
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1.0, "jac": lambda x: np.ones(n)}],
                   options={"ftol": 1e-15, "maxiter": 1000})
    return _normalize(res.x)


def naive_gap(P, pi, beta) -> float:
    """max_pi1 J(pi1, pi) - min_pi2 J(pi, pi2), each half solved as its own optimization problem
    (J(a, b) = a^T P b - beta KL(a || ref) + beta KL(b || ref), uniform ref)."""
    n = P.shape[0]
    log_ref = np.full(n, -np.log(n))
    if beta == 0:
        simplex = dict(A_eq=np.ones((1, n)), b_eq=[1.0], bounds=(0, None))
        best = -linprog(-(P @ pi), **simplex).fun                   # max_pi1 pi1^T P pi
        worst = linprog(P.T @ pi, **simplex).fun                     # min_pi2 pi^T P pi2
        return best - worst

    def kl(q):
        m = q > 0
        return float(np.sum(q[m] * (np.log(q[m]) - log_ref[m])))

    def neg_regularized(z, u):
        """-(q^T u - beta KL(q || ref)) with q = softmax(z), and its gradient in z."""
        q = softmax(z)
        g_q = u - beta * (np.log(np.clip(q, 1e-300, None)) - log_ref + 1.0)
        return -(q @ u - beta * kl(q)), -(q * (g_q - q @ g_q))

    opts = {"gtol": 1e-10, "ftol": 1e-14, "maxiter": 100_000}
    # max_pi1 J(pi1, pi) = max_pi1 [pi1^T P pi - beta KL(pi1 || ref)] + beta KL(pi || ref)
    hi = minimize(neg_regularized, log_ref, args=(P @ pi,), jac=True, method="L-BFGS-B", options=opts)
    # min_pi2 J(pi, pi2) = -max_pi2 [(-P^T pi)^T pi2 - beta KL(pi2 || ref)] - beta KL(pi || ref)
    lo = minimize(neg_regularized, log_ref, args=(-(P.T @ pi),), jac=True, method="L-BFGS-B", options=opts)
    return (-hi.fun + beta * kl(pi)) - (lo.fun - beta * kl(pi))


def _normalize(x) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, None)
    return x / x.sum()


# ---------------------------------------------------------------------------------------------------- runner

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}, nashpy {getattr(nashpy, '__version__', 'not installed')}")


def run(args) -> list[dict]:
    rows = []

    def measure(task, n, beta, method, fn, judge, note=""):
        seconds, runs, result = best_of(fn, args.repeat, args.budget)
        rows.append(dict(task=task, n=n, beta=beta, method=method, seconds=seconds, runs=runs,
                         gap=judge(result), note=note))

    def skip(task, n, beta, method, note):
        rows.append(dict(task=task, n=n, beta=beta, method=method, seconds=None, runs=0, gap=None, note=note))

    for n in args.sizes:
        P = make_preference(args.kind, n, seed=args.seed)
        for beta in [0.0] + args.betas:
            def eq_gap(pi, beta=beta):
                return duality_gap(P, pi, beta)
            measure("nash", n, beta, "preflab", lambda: regularized_nash(P, beta), eq_gap)
            if beta == 0:
                measure("nash", n, beta, "scipy_linprog", lambda: textbook_maxmin(P), eq_gap)
                if args.lp_variants:
                    measure("nash", n, beta, "preflab_lp_ipm", lambda: preflab_lp(P, "highs-ipm"), eq_gap,
                            "preflab's LP, HiGHS interior point")
                    measure("nash", n, beta, "small_lp_highs", lambda: small_lp(P, "highs"), eq_gap,
                            "max 1'y s.t. Py <= 1, HiGHS default")
                    measure("nash", n, beta, "small_lp_ipm", lambda: small_lp(P, "highs-ipm"), eq_gap,
                            "max 1'y s.t. Py <= 1, HiGHS interior point")
                if nashpy is None:
                    for method in ("nashpy_lp", "nashpy_lemke_howson"):
                        skip("nash", n, beta, method, "nashpy not installed (pip install -e '.[bench]')")
                    continue
                measure("nash", n, beta, "nashpy_lp", lambda: nashpy_lp(P), eq_gap, "two LPs (one per player)")
                if n <= args.lh_max_n:
                    measure("nash", n, beta, "nashpy_lemke_howson", lambda: nashpy_lemke_howson(P), eq_gap)
                else:
                    skip("nash", n, beta, "nashpy_lemke_howson",
                         f"skipped: N > {args.lh_max_n}, integer pivoting on float payoffs overflows (NaN at N=14)")
            else:
                measure("nash", n, beta, "mirror_descent", lambda: mirror_descent(P, beta, args.budget), eq_gap)
                if n <= args.slsqp_max_n:
                    measure("nash", n, beta, "scipy_slsqp", lambda: slsqp(P, beta), eq_gap)
                else:
                    skip("nash", n, beta, "scipy_slsqp", f"skipped: N > {args.slsqp_max_n} (minutes per solve)")
        pi = np.random.default_rng(args.seed).dirichlet(np.ones(n))
        for beta in [0.0] + args.betas:
            exact = duality_gap(P, pi, beta)
            measure("gap", n, beta, "preflab", lambda: duality_gap(P, pi, beta), lambda g, e=exact: abs(g - e))
            measure("gap", n, beta, "naive", lambda: naive_gap(P, pi, beta), lambda g, e=exact: abs(g - e))
        print(f"  N={n} done", flush=True)

    for row in rows:
        base = next(r for r in rows if (r["task"], r["n"], r["beta"], r["method"]) ==
                    (row["task"], row["n"], row["beta"], "preflab"))
        row["speedup"] = None if row["seconds"] is None else row["seconds"] / base["seconds"]
    return rows


def print_table(rows) -> None:
    print(f"\n{'task':5s} {'N':>5s} {'beta':>5s}  {'method':20s} {'best s':>10s} {'runs':>4s} "
          f"{'gap / |err|':>11s} {'speedup':>8s}  note")
    for r in rows:
        if r["seconds"] is None:
            print(f"{r['task']:5s} {r['n']:5d} {r['beta']:5g}  {r['method']:20s} {'-':>10s} {'-':>4s} {'-':>11s} "
                  f"{'-':>8s}  {r['note']}")
            continue
        print(f"{r['task']:5s} {r['n']:5d} {r['beta']:5g}  {r['method']:20s} {r['seconds']:10.3g} {r['runs']:4d} "
              f"{r['gap']:11.2e} {r['speedup']:8.3g}  {r['note']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated N (default 10,100,1000)")
    parser.add_argument("--betas", default="0.1,0.01", help="regularizations > 0 to solve besides beta = 0")
    parser.add_argument("--kind", default="random", help="preference family (random, bt, cyclic, mixture)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=5, help="measurements per method; the best counts")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds after which a method's repeats stop")
    parser.add_argument("--slsqp-max-n", type=int, default=100, help="largest N for the SLSQP baseline")
    parser.add_argument("--no-lp-variants", dest="lp_variants", action="store_false",
                        help="skip the alternative maximal-lottery LPs (other HiGHS methods, a smaller formulation)")
    parser.add_argument("--lh-max-n", type=int, default=12, help="largest N for nashpy's Lemke-Howson")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.betas = [float(b) for b in args.betas.split(",") if b]

    print(f"games benchmark: kind={args.kind} seed={args.seed} sizes={args.sizes} betas={[0.0] + args.betas} "
          f"best of {args.repeat} (budget {args.budget:g} s)\n{machine()}", flush=True)
    rows = run(args)
    print_table(rows)
    print(json.dumps({"benchmark": "games", "kind": args.kind, "seed": args.seed, "machine": machine(),
                      "results": rows}))


if __name__ == "__main__":
    main()
