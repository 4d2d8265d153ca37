"""What each online method trains on in a round, built from K samples per prompt and the oracle's K x K
preference matrix (``prefs[i][j]`` = P(sample i preferred to sample j)).

Every method is a registry objective plus three choices: which samples make the examples, which model is
the reference (the initial policy, or the policy at the start of the round), and which past policies are the
opponents. The win rate of sample i is its mean preference against the prompt's samples,
``w_i = mean_j prefs[i][j]`` (the self term 1/2 included, as SPPO's code does).

| method | samples | examples | reference | opponents |
|---|---|---|---|---|
| iterative_dpo | K from pi_t | best vs worst by win rate (Xiong et al. 2023) | initial | - |
| online_dpo | 2 from pi_t | the pair, ordered by the oracle's label (Guo et al. 2024) | initial | - |
| sppo | K from pi_t | all K with prefs (targets P(y > pi_t) - 1/2) | pi_t | - |
| dno | K from pi_t | all K with prefs; pairs above a margin (Rosset et al. 2024) | - | pi_t |
| inpo | K from pi_t | best vs worst, prefs | initial | pi_t |
| mnpo (TD-MNPO) | K from pi_t | best vs worst, prefs | initial | pi_t, pi_{t-1}, ... (``history`` n, ``weights``) |
| eo_mnpo | K from pi_t | best vs worst, prefs | initial | pi_t ... and fixed ``external`` checkpoints |
| ht_mnpo | K from each player's pi_i | best vs worst under the player's own oracle | initial | the other players' pi_j |
| nash_md | y ~ pi_t, y' ~ pi_t^(1-m) ref^m | the pair in that order, with prefs | initial | - |
| online_ipo | 2 from pi_t | the pair with prefs | initial | - |
| egpo | 2 from pi_t | the pair with prefs, trained with the extragradient step | initial | - |

INPO and MNPO share one scale, as in MNPO's released code (INPO is its trainer with one history entry):
per-token averaged log-probs, eta = 0.0075 and a reference weight of 1/3 (tau = eta / 3), so that ``mnpo``
with ``history: 1`` trains exactly like ``inpo`` and the two differ only in their opponents. Parameters a
method reads itself (``LOOP_PARAMS``: ``history``, ``external``, ``players``, ``oracles``, ``mixture_coef``, and
``lr``, the method's own learning rate in place of the shared one) are taken out before the rest go to the objective.
| spin | 1 from pi_t | the SFT answer vs the sample (Chen et al. 2024) | pi_t | - |
| grpo, rloo | K from pi_t | all K with the oracle's rewards (win rates when it has no scores) | initial | - |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from preflab.data import PreferenceExample

__all__ = ["Method", "METHODS", "LOOP_PARAMS", "get_method", "win_rates"]


def win_rates(prefs: np.ndarray) -> np.ndarray:
    """w_i = mean_j prefs[i, j] (self term 1/2 included)."""
    return np.asarray(prefs, dtype=np.float64).mean(axis=1)


def _pair(index, prompt, samples, P, i, j) -> PreferenceExample:
    """Samples i (first) and j with their preference probabilities."""
    return PreferenceExample(index=index, prompt_ids=list(prompt), completion_ids=[list(samples[i]), list(samples[j])],
                             ranks=[0, 1], scores=None, labels=None,
                             prefs=[[0.5, float(P[i, j])], [float(P[j, i]), 0.5]])


def best_vs_worst(index, prompt, samples, P, rng, margin: float = 0.0) -> Optional[PreferenceExample]:
    w = win_rates(P)
    i, j = int(np.argmax(w)), int(np.argmin(w))
    if w[i] - w[j] <= margin or samples[i] == samples[j]:
        return None
    return _pair(index, prompt, samples, P, i, j)


def labelled_pair(index, prompt, samples, P, rng) -> Optional[PreferenceExample]:
    """The first two samples, ordered by one Bernoulli draw of the oracle's preference."""
    if samples[0] == samples[1]:
        return None
    first = rng.random() < P[0, 1]
    return _pair(index, prompt, samples, P, 0, 1) if first else _pair(index, prompt, samples, P, 1, 0)


def policy_pair(index, prompt, samples, P, rng) -> Optional[PreferenceExample]:
    """The first two samples in the order they were drawn (Nash-MD: slot 0 is y ~ pi_t, slot 1 is y' from
    the mixture), with p = P(y > y'); never reordered, since the loss treats the two slots differently."""
    if samples[0] == samples[1]:
        return None
    return _pair(index, prompt, samples, P, 0, 1)


def ordered_pair(index, prompt, samples, P, rng) -> Optional[PreferenceExample]:
    """The first two samples with their preference probabilities, the more preferred first."""
    if samples[0] == samples[1]:
        return None
    return _pair(index, prompt, samples, P, 0, 1) if P[0, 1] >= 0.5 else _pair(index, prompt, samples, P, 1, 0)


def whole_list(index, prompt, samples, P, rng, rewards=None) -> Optional[PreferenceExample]:
    w = win_rates(P)
    order = np.argsort(-w, kind="stable")
    ranks = np.empty(len(w), dtype=np.int64)
    ranks[order] = np.arange(len(w))
    scores = w if rewards is None else np.asarray(rewards, dtype=np.float64)
    return PreferenceExample(index=index, prompt_ids=list(prompt), completion_ids=[list(s) for s in samples],
                             ranks=ranks.tolist(), scores=[float(x) for x in scores], labels=None,
                             prefs=np.asarray(P, dtype=np.float64).tolist())


@dataclass(frozen=True)
class Method:
    """One online method. ``build(index, prompt_ids, samples, prefs, rng, **extra)`` returns the round's example
    for one prompt, or None to skip it (identical samples, a tie)."""

    name: str
    objective: str
    k: int
    build: Callable
    kind: str                                   # "pairwise" or "listwise"
    reference: Optional[str] = "initial"        # "initial", "previous" or None
    opponents: int = 0                          # how many of the latest policies play as opponents
    mixture: bool = False                       # y' from the geometric mixture with the reference (Nash-MD)
    needs_gold: bool = False                    # SPIN: the SFT answer is the chosen response
    params: Dict = field(default_factory=dict)  # the objective's hyperparameters
    train: Dict = field(default_factory=dict)   # training settings the method needs (EGPO: the extragradient step)
    players: bool = False                       # HT-MNPO: several players trained side by side
    external: bool = False                      # EO-MNPO: fixed external checkpoints must join the opponents
    summary: str = ""


def _spin(index, prompt, samples, P, rng, gold=None):
    if gold is None:
        raise ValueError("spin needs the SFT answer of every prompt (gold responses)")
    if list(gold) == list(samples[0]):
        return None
    return PreferenceExample(index=index, prompt_ids=list(prompt), completion_ids=[list(gold), list(samples[0])],
                             ranks=[0, 1], scores=None, labels=None, prefs=None)


_ETA = 0.0075                                   # MNPO's released eta; INPO uses the same (its tau = eta / 3)
_NASH_SCALE = {"average_logps": True, "eta": _ETA}
LOOP_PARAMS = ("history", "external", "players", "oracles", "mixture_coef", "lr")

METHODS: Dict[str, Method] = {m.name: m for m in [
    Method("iterative_dpo", "dpo", 4, best_vs_worst, "pairwise", summary="DPO on best-vs-worst of K samples, each round"),
    Method("online_dpo", "dpo", 2, labelled_pair, "pairwise", summary="DPO on one labelled pair per prompt"),
    Method("sppo", "sppo", 4, whole_list, "listwise", reference="previous",
           summary="SPPO: regress log pi/pi_t to (P(y > pi_t) - 1/2) / beta"),
    Method("dno", "dno", 4, whole_list, "listwise", reference=None, opponents=1,
           summary="DNO: contrastive regression against pi_t on pairs with a margin"),
    Method("inpo", "inpo", 4, best_vs_worst, "pairwise", opponents=1, params=dict(_NASH_SCALE, tau=_ETA / 3),
           summary="INPO: no-regret learning against pi_t, regularized toward the initial policy"),
    Method("mnpo", "mnpo", 4, best_vs_worst, "pairwise", opponents=2, params=dict(_NASH_SCALE, ratio=1 / 3),
           summary="TD-MNPO: INPO against the last n policies (history n, weights most recent first)"),
    Method("eo_mnpo", "mnpo", 4, best_vs_worst, "pairwise", opponents=1, external=True,
           params=dict(_NASH_SCALE, ratio=1 / 3),
           summary="EO-MNPO: MNPO with fixed external checkpoints among the opponents (external, weights)"),
    Method("ht_mnpo", "mnpo", 4, best_vs_worst, "pairwise", players=True, params=dict(_NASH_SCALE, ratio=1 / 3),
           summary="HT-MNPO: n players side by side, each with its own oracle, against the others' policies"),
    Method("nash_md", "nash_md", 2, policy_pair, "pairwise", mixture=True,
           summary="Nash-MD: y ~ pi_t against y' from the geometric mixture of pi_t and the reference"),
    Method("online_ipo", "online_ipo", 2, ordered_pair, "pairwise", summary="online IPO on pairs from pi_t"),
    Method("egpo", "egpo", 2, ordered_pair, "pairwise", train={"extragradient": True},
           summary="EGPO: online IPO with the extragradient step (extrapolate, take the gradient there, restore)"),
    Method("spin", "dpo", 1, _spin, "pairwise", reference="previous", needs_gold=True,
           summary="SPIN: the SFT answer against the policy's own sample"),
    Method("grpo", "grpo", 4, whole_list, "listwise", summary="GRPO on the oracle's rewards"),
    Method("rloo", "rloo", 4, whole_list, "listwise", summary="RLOO on the oracle's rewards"),
]}


def get_method(name: str) -> Method:
    if name not in METHODS:
        import difflib
        near = difflib.get_close_matches(name, METHODS, n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise ValueError(f"unknown online method '{name}'{hint} (choose from {', '.join(METHODS)})")
    return METHODS[name]


def build_round(method: Method, prompts: Sequence[Sequence[int]], samples: Sequence[Sequence[Sequence[int]]],
                prefs: Sequence[np.ndarray], rng: np.random.Generator, *, start_index: int = 0,
                rewards: Optional[Sequence[Sequence[float]]] = None, gold: Optional[Sequence] = None,
                margin: Optional[float] = None) -> List[PreferenceExample]:
    """The round's examples, one per prompt unless the method skips it."""
    out = []
    for b, (prompt, ks, P) in enumerate(zip(prompts, samples, prefs)):
        extra = {}
        if method.build is whole_list and rewards is not None:
            extra["rewards"] = rewards[b]
        if method.needs_gold:
            extra["gold"] = gold[b] if gold is not None else None
        if method.build is best_vs_worst and margin is not None:
            extra["margin"] = margin
        ex = method.build(start_index + b, prompt, ks, np.asarray(P, dtype=np.float64), rng, **extra)
        if ex is not None:
            out.append(ex)
    return out
