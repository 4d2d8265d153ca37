"""The final arena of a comparison: every run's final policy and every seed's SFT policy answer the task's
prompts (``samples`` completions per prompt, one seed for all), and the task's exact oracle judges every pair.

For policies i and j the true win rate is ``W[i, j] = mean_{prompt, slot} P(y_i > y_j)``, the j-th sample of
one against the j-th of the other (as :func:`preflab.online.evaluate.win_rate`), so ``W[j, i] = 1 - W[i, j]``.
A method is the population of its seeds' policies (the SFT policies form the entrant ``sft``), and the
head-to-head matrix between methods is the mean over every pair of their policies,

    H[a, b] = mean_{i in a, j in b} W[i, j],      H[a, a] = 1/2.

Ratings are Bradley-Terry on the oracle's probabilities as fractional battles (each comparison one battle
whose outcome is P(y_a > y_b)), by :func:`preflab.arena.bradley_terry.fit_bt`, on the arena's Elo-like scale;
``lower``/``upper`` are the sandwich interval with each comparison's own score (y - p), which measures the
sampling of responses from these policies. ``seed_lower``/``seed_upper`` answer the question a comparison asks,
how much the rating moves with the seeds: the percentile bootstrap over seeds (resampled jointly, so a seed's
policies, which share an SFT policy, stay together). The maximal lottery over the methods (``sft`` left out) is
:func:`preflab.games.maximal_lottery` of H: MNPO's mixed-policy evaluation, the mixture of methods that no
method beats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from preflab.arena.bradley_terry import bt_information, fit_bt
from preflab.arena.intervals import centred_cov, normal_interval, percentile_interval
from preflab.arena.pairs import PairCounts
from preflab.arena.ranks import arena_ranks
from preflab.arena.ratings import SCALE, Ratings, ratings_from_theta
from preflab.games import duality_gap, maximal_lottery
from preflab.online.evaluate import slot_pairs

__all__ = ["draw_answers", "policy_matrix", "method_level", "fractional_ratings", "lottery", "final_arena"]


def draw_answers(task, policies: Sequence[Path], samples: int, seed: int, temperature: float,
                 log: Callable[[str], None] = print) -> List[List[List[str]]]:
    """``out[p][i][j]``: the j-th of ``samples`` completions of task prompt i by policy p, each policy drawn with
    the same ``seed``."""
    from transformers.utils import logging as hf_logging

    from preflab.online.evaluate import decode
    from preflab.online.rollout import load_policy, sample, suppressed_ids

    tok = task.tokenizer()
    eos, pad = tok.eos_token_id, tok.pad_token_id
    suppress = suppressed_ids(tok)
    ids = [tok(p)["input_ids"] for p in task.prompts()]
    out = []
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()               # one "Loading weights" bar per policy says nothing here
    try:
        for k, path in enumerate(policies):
            model = load_policy(path)
            drawn = sample(model, ids, samples, max_new_tokens=task.max_new_tokens, eos_id=eos, pad_id=pad,
                           temperature=temperature, seed=seed, suppress_ids=suppress)
            out.append(decode(tok, drawn))
            del model
            if (k + 1) % 10 == 0 or k + 1 == len(policies):
                log(f"arena: {k + 1}/{len(policies)} policies answered")
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return out


def policy_matrix(oracle, prompts: Sequence[str], answers: Sequence[Sequence[Sequence[str]]]) -> dict:
    """Per pair of policies: ``sum`` [n, n] of P(row's answer > column's) over the comparisons, ``sum_sq`` of
    its squares, ``count`` [n, n], and ``win_rate`` = sum / count (diagonal 1/2)."""
    n = len(answers)
    S, Q, C = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            y = np.asarray(oracle.compare(*slot_pairs(prompts, answers[i], answers[j])), dtype=float)
            m = float(y.size)
            S[i, j], Q[i, j], C[i, j] = y.sum(), (y ** 2).sum(), m
            S[j, i], Q[j, i], C[j, i] = m - y.sum(), ((1 - y) ** 2).sum(), m
    W = np.divide(S, C, out=np.full((n, n), 0.5), where=C > 0)
    np.fill_diagonal(W, 0.5)
    return {"sum": S, "sum_sq": Q, "count": C, "win_rate": W}


def method_level(pm: dict, groups: Sequence[Sequence[int]], weights: Optional[np.ndarray] = None) -> dict:
    """The policy-pair sums added up within groups (one group of policy indices per method), each policy
    weighted by ``weights`` [n_policies] (default 1; a seed bootstrap passes how often it drew each seed)."""
    n = len(pm["sum"])
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    G = np.zeros((len(groups), n))
    for g, members in enumerate(groups):
        G[g, list(members)] = w[list(members)]
    agg = {k: G @ pm[k] @ G.T for k in ("sum", "sum_sq", "count")}
    for v in agg.values():
        np.fill_diagonal(v, 0.0)
    H = np.divide(agg["sum"], agg["count"], out=np.full_like(agg["sum"], 0.5), where=agg["count"] > 0)
    np.fill_diagonal(H, 0.5)
    agg["win_rate"] = H
    return agg


def fractional_ratings(agg: dict, names: Sequence[str], level: float = 0.95) -> Ratings:
    """Bradley-Terry ratings of fractional battles (``agg`` from :func:`method_level`) with the sandwich
    interval whose meat uses each comparison's own (y - p)^2."""
    n = len(names)
    S, N = agg["sum"], agg["count"]
    counts = PairCounts(list(names), S.copy(), np.zeros((n, n)), np.rint(N.sum(axis=1)).astype(np.int64))
    theta = fit_bt(counts)
    P = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    H, _ = bt_information(counts, theta)
    M = agg["sum_sq"] - 2 * P * S + P ** 2 * N       # sum over the pair's comparisons of (y - p)^2
    np.fill_diagonal(M, 0.0)
    B = np.diag(M.sum(axis=1)) - M
    rating = ratings_from_theta(theta)
    sd = SCALE * np.sqrt(np.clip(np.diag(centred_cov(H, B, n)), 0.0, None))
    lower, upper = normal_interval(rating, sd, level)
    return Ratings("bt", "sandwich", level, list(names), rating, lower, upper, arena_ranks(lower, upper),
                   counts.battles, counts, {"battles_are": "fractional: one per comparison, outcome P(a > b)"})


def seed_bootstrap(pm: dict, groups, seed_of: Sequence[int], level: float, resamples: int,
                   seed: int) -> Optional[tuple]:
    """Percentile intervals of the ratings over seeds resampled jointly; None with a single seed."""
    seeds = sorted(set(seed_of))
    if len(seeds) < 2:
        return None
    rng = np.random.default_rng(seed)
    pos = {s: k for k, s in enumerate(seeds)}
    where = np.array([pos[s] for s in seed_of])
    reps = []
    for _ in range(resamples):
        draws = np.bincount(rng.integers(0, len(seeds), len(seeds)), minlength=len(seeds))
        w = draws[where].astype(float)
        if any(w[list(g)].sum() == 0 for g in groups):
            continue
        agg = method_level(pm, groups, w)
        n = len(groups)
        counts = PairCounts([str(k) for k in range(n)], agg["sum"], np.zeros((n, n)),
                            np.rint(agg["count"].sum(axis=1)).astype(np.int64))
        reps.append(ratings_from_theta(fit_bt(counts, check=False)))
    if not reps:
        return None
    lo, hi = percentile_interval(np.stack(reps), level)
    return lo, hi, len(reps)


def lottery(H: np.ndarray, names: Sequence[str]) -> dict:
    """The maximal lottery of the game H over ``names`` (``probabilities`` in that order, ``mass`` by name)
    and each pure entrant's duality gap in it (0: nothing beats it)."""
    n = len(names)
    pi = maximal_lottery(H) if n >= 2 else np.ones(1)
    gaps = [float(duality_gap(H, np.eye(n)[i])) for i in range(n)] if n >= 2 else [0.0]
    return {"names": list(names), "probabilities": [float(x) for x in pi],
            "mass": {m: float(x) for m, x in zip(names, pi)}, "duality_gap": dict(zip(names, gaps))}


def final_arena(task, entrants: Dict[str, Dict[int, Path]], samples: int, seed: int, temperature: float,
                level: float = 0.95, resamples: int = 1000, stats_seed: int = 0,
                log: Callable[[str], None] = print) -> dict:
    """``{head_to_head, ratings, maximal_lottery, policies}`` of ``entrants`` (name -> seed -> policy folder;
    the name ``sft`` for the starting policies; every name needs at least one policy)."""
    names = list(entrants)
    policies, groups, seed_of, labels = [], [], [], []
    for name in names:
        group = []
        for s, path in sorted(entrants[name].items()):
            group.append(len(policies))
            policies.append(Path(path))
            seed_of.append(s)
            labels.append(f"{name}/seed_{s}")
        groups.append(group)
    answers = draw_answers(task, policies, samples, seed, temperature, log)
    log(f"arena: judging {len(policies) * (len(policies) - 1) // 2} pairs of policies with the exact oracle")
    pm = policy_matrix(task.oracle(), task.prompts(), answers)
    agg = method_level(pm, groups)
    H = agg["win_rate"]
    ratings = fractional_ratings(agg, names, level)
    rjson = ratings.as_json()
    boot = seed_bootstrap(pm, groups, seed_of, level, resamples, stats_seed)
    for i, m in enumerate(names):
        lo, hi = (boot[0][i], boot[1][i]) if boot else (ratings.rating[i], ratings.rating[i])
        rjson["ratings"][m].update(seed_lower=float(lo), seed_upper=float(hi))
    rjson["seed_interval"] = ({"method": "percentile bootstrap over seeds", "resamples": boot[2], "seed": stats_seed}
                              if boot else {"note": "one seed: no interval over seeds (seed_lower = seed_upper)"})
    methods = [m for m in names if m != "sft"]
    idx = [names.index(m) for m in methods]
    ml = lottery(H[np.ix_(idx, idx)], methods)
    if "sft" in names:
        pi = np.asarray(ml["probabilities"])
        ml["win_rate_vs_sft"] = float(pi @ H[idx, names.index("sft")])
    return {
        "head_to_head": {"names": names, "matrix": H.tolist(), "meaning": "matrix[a][b] = true P(a's answer beats b's)",
                         "comparisons": agg["count"].tolist(), "samples_per_prompt": samples, "seed": seed},
        "ratings": rjson,
        "maximal_lottery": ml,
        "policies": {"names": labels, "matrix": pm["win_rate"].tolist()},
    }
