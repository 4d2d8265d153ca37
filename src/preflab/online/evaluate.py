"""A round's evaluation under the oracle: true win rate against the reference and earlier policies, KL to the
reference, and the duality gap estimated against the opponent pool.

Win rates use the oracle's preference *probabilities* on sampled pairs (not coin flips), so their only noise
is the sampling of responses. ``KL(pi || ref)`` is the Monte Carlo mean of ``log pi(y) - log ref(y)`` over
y ~ pi (summed over tokens). The pool gap is the unregularized two-player gap with best responses restricted
to the pool (the reference, every earlier policy, the policy itself): ``2 max_sigma W(sigma, pi) - 1``,
a lower bound on the true duality gap that is 0 when nothing in the pool beats pi. The response gap is the
same bound with best responses taken over single *responses* rather than policies, per prompt: every distinct
response any policy of the run produced is a candidate, ``2 max_y mean_j P(y > y_j) - 1`` over the policy's
samples y_j, averaged over prompts. The unregularized game's best response is a pure response, so this is the
tighter of the two; it is 0 only when no response seen anywhere beats pi's on average.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from preflab.data import PreferenceExample
from preflab.engine import logprobs_for

__all__ = ["slot_pairs", "win_rate", "kl_to_reference", "pool_gap", "response_gap", "round_metrics", "player_gap"]


def slot_pairs(prompts: Sequence[str], first: Sequence[Sequence[str]], second: Sequence[Sequence[str]]) -> tuple:
    """The comparisons of two policies' samples, slot against slot: (prompts, first[i][j], second[i][j]) lists."""
    p, a, b = [], [], []
    for prompt, xs, ys in zip(prompts, first, second):
        for x, y in zip(xs, ys):
            p.append(prompt), a.append(x), b.append(y)
    return p, a, b


def win_rate(oracle, prompts: Sequence[str], first: Sequence[Sequence[str]], second: Sequence[Sequence[str]]) -> float:
    """Mean P(first preferred to second) over prompts and sample slots (first[i][j] against second[i][j])."""
    return float(np.mean(oracle.compare(*slot_pairs(prompts, first, second))))


@torch.no_grad()
def kl_to_reference(policy, ref, prompt_ids: Sequence[Sequence[int]], samples: Sequence[Sequence[Sequence[int]]],
                    pad_id: int) -> float:
    """Monte Carlo KL(pi || ref) from the policy's own samples (summed log-probs per response)."""
    examples = [PreferenceExample(index=i, prompt_ids=list(p), completion_ids=[list(s) for s in ks], ranks=None,
                                  scores=None, labels=None) for i, (p, ks) in enumerate(zip(prompt_ids, samples))]
    total, count = 0.0, 0
    for s in range(0, len(examples), 64):
        chunk = examples[s:s + 64]
        lp, lr = logprobs_for(policy, chunk, pad_id), logprobs_for(ref, chunk, pad_id)
        total += float(((lp.sums - lr.sums) * lp.mask).sum())
        count += int(lp.mask.sum())
    return total / count


def pool_gap(win_against: Dict[str, float]) -> float:
    """``max(0, 2 max_sigma W(sigma, pi) - 1)`` from the win rates of the pool's members against pi."""
    return max(0.0, 2.0 * max(win_against.values()) - 1.0) if win_against else 0.0


def response_gap(oracle, prompts: Sequence[str], candidates: Sequence[Sequence[str]],
                 samples: Sequence[Sequence[str]]) -> float:
    """Mean over prompts of ``2 max_{y in candidates[i]} mean_j P(y > samples[i][j]) - 1`` (one oracle call)."""
    p, a, b, spans = [], [], [], []
    for prompt, cands, mine in zip(prompts, candidates, samples):
        cands = sorted(set(cands) | set(mine))          # the policy's own samples are candidates too: gap >= 0
        spans.append((len(p), len(cands), len(mine)))
        for y in cands:
            p += [prompt] * len(mine)
            a += [y] * len(mine)
            b += list(mine)
    probs = oracle.compare(p, a, b)
    gaps = [2.0 * probs[s:s + n * m].reshape(n, m).mean(axis=1).max() - 1.0 for s, n, m in spans]
    return float(np.mean(gaps))


def round_metrics(oracle, prompts: Sequence[str], prompt_ids, policy, ref_model, history: Sequence[tuple],
                  pad_id: int, names: Optional[Sequence[str]] = None) -> dict:
    """A round's evaluation of the newest policy under ``oracle``.

    ``history`` holds ``(token ids, texts)`` of the evaluation samples of every policy of the run, the
    reference (SFT) first and the evaluated policy last (texts[i][j]: sample j for prompt i). Returns
    ``win_rate_vs_ref`` (mean P(policy's sample j > the reference's sample j)), ``win_rate_vs_rounds``
    (the same against each earlier policy), ``duality_gap`` (the pool gap), ``response_gap`` (candidates:
    every sample of every policy) and ``kl`` (KL(policy || ref_model) on the policy's samples).
    """
    ids, mine = history[-1]
    names = list(names) if names is not None else ["sft"] + [f"round_{i}" for i in range(1, len(history) - 1)]
    row = {"win_rate_vs_ref": win_rate(oracle, prompts, mine, history[0][1])}
    against = {n: win_rate(oracle, prompts, texts, mine) for n, (_, texts) in zip(names, history[:-1])}
    row["win_rate_vs_rounds"] = {n: 1.0 - w for n, w in against.items()}
    row["duality_gap"] = pool_gap(against)
    seen = [[y for _, texts in history for y in texts[i]] for i in range(len(prompts))]
    row["response_gap"] = response_gap(oracle, prompts, seen, mine)
    row["kl"] = kl_to_reference(policy, ref_model, prompt_ids, ids, pad_id)
    return row


def player_gap(oracle, prompts: Sequence[str], candidates: Sequence[Sequence[str]], mine: Sequence[Sequence[str]],
               opponents: Sequence[Sequence[Sequence[str]]]) -> float:
    """One player's duality-gap bound in the general-sum game (MNPO v3 Eq. 9, unregularized), from samples.

    Player i's payoff is its average win rate against the other players under its own ``oracle``,
    ``J_i(pi) = mean_j P_i(pi > pi_j)``; the gap ``max_pi' J_i(pi') - J_i(pi_i)`` is bounded from below by
    taking pi' among single responses: per prompt ``max_{y in candidates} mean_{j,s} P_i(y > y_j^s) -
    mean_{r,j,s} P_i(y_i^r > y_j^s)`` (``mine[p]``: the player's samples, ``opponents[j][p]``: player j's),
    averaged over prompts. The player's own samples are candidates, so the bound is >= 0.
    """
    p, a, b, spans = [], [], [], []
    for k, prompt in enumerate(prompts):
        theirs = [y for opp in opponents for y in opp[k]]
        cands = sorted(set(candidates[k]) | set(mine[k]))
        rows = cands + list(mine[k])                    # the candidates, then the player's own samples
        spans.append((len(p), len(cands), len(mine[k]), len(theirs)))
        for y in rows:
            p += [prompt] * len(theirs)
            a += [y] * len(theirs)
            b += theirs
    probs = oracle.compare(p, a, b)
    gaps = []
    for s, n, m, t in spans:
        values = probs[s:s + (n + m) * t].reshape(n + m, t).mean(axis=1)
        gaps.append(max(0.0, values[:n].max() - values[n:].mean()))
    return float(np.mean(gaps))


def decode(tokenizer, samples: Sequence[Sequence[Sequence[int]]]) -> List[List[str]]:
    return [[tokenizer.decode(s, skip_special_tokens=True) for s in ks] for ks in samples]
