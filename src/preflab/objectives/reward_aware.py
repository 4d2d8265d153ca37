"""Objectives that read the oracle's scores or preference probabilities, not only which response won.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> b = ScoreBatch(policy_logps=torch.tensor([[-10.0, -14.0]]), ref_logps=torch.tensor([[-11.0, -12.0]]),
...                rewards=torch.tensor([[0.9, 0.4]]))
>>> # MaPPO: the rejected log-ratio is scaled by r_w - r_l = 0.5: -logsig(0.1 * (1 + 0.5 * 2))
>>> round(get_objective("mappo", beta=0.1)(b).loss.item(), 4)
0.5981
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import BatchError, ObjectiveOutput, ScoreBatch
from .dpo import BETA, REF, _output
from .pairs import chosen_rejected, pair_logratios
from .registry import Param, register


@register(
    "mappo",
    paper="MaPPO: Maximum a Posteriori Preference Optimization with Prior Knowledge",
    arxiv="2507.21183",
    equation="Eq. 8",
    data="pairwise",
    logp="sum",
    requires=REF + ("rewards",),
    params={"beta": BETA},
)
def mappo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """MaPPO: DPO whose rejected term is scaled by the reward gap, so near-ties are not pushed apart.

    Lan et al., arXiv 2507.21183, Eq. 8. Summed log-probs. ``rewards`` are prior scores in [0, 1] (the paper
    applies a sigmoid to reward-model scores); dr = r_w - r_l, clamped to [0, 1] when a label disagrees
    with the scores (the fraction is logged as ``prior/disagreement``):

        loss = -logsig(beta rho_w - dr beta rho_l)

    dr = 1 is ``dpo``.
    """
    r_w, r_l = chosen_rejected(batch, batch.rewards)
    if ((r_w < 0) | (r_w > 1) | (r_l < 0) | (r_l > 1)).any():
        raise BatchError("mappo needs ScoreBatch.rewards in [0, 1] (apply a sigmoid to reward-model scores)")
    gap = (r_w - r_l).clamp(0, 1)
    rho_w, rho_l = pair_logratios(batch)
    losses = -F.logsigmoid(beta * rho_w - gap * beta * rho_l)
    out = _output(batch, losses, rho_w, rho_l, beta)
    out.metrics["prior/disagreement"] = (r_w < r_l).to(losses.dtype).mean()
    return out


@register(
    "irepo",
    paper="iREPO: implicit Reward Pairwise Difference based Empirical Preference Optimization",
    arxiv="2405.15230",
    equation="regression of the implicit reward difference onto the logit of the empirical preference (reconstructed from the paper's description)",
    data="pairwise",
    logp="sum",
    requires=REF + ("prefs",),
    params={"beta": BETA,
            "clip": Param(1e-3, "empirical preferences are clipped to [clip, 1 - clip] so their logit is finite",
                          "(0, 0.5)")},
)
def irepo(batch: ScoreBatch, *, beta: float, clip: float) -> ObjectiveOutput:
    """iREPO: least-squares regression of the implicit reward difference onto the logit of the empirical
    preference, the Bradley-Terry identity r_w - r_l = logit P(y_w > y_l) made a loss.

    Le et al., arXiv 2405.15230. Summed log-probs. p = ``prefs`` of the chosen over the rejected
    response: the fraction of annotators (or an AI judge's probability) preferring it, soft labels. This
    form follows the paper's description (a regression on the logit of empirical preferences); its own
    equation could not be read here, so treat the constant factors as ours:

        loss = (beta * rho - logit(clip(p)))^2
    """
    p, _ = chosen_rejected(batch, batch.prefs[:, [0, 1], [1, 0]])   # P(chosen > rejected)
    p = p.clamp(clip, 1 - clip)
    target = torch.log(p) - torch.log1p(-p)
    rho_w, rho_l = pair_logratios(batch)
    losses = (beta * (rho_w - rho_l) - target) ** 2
    out = _output(batch, losses, rho_w, rho_l, beta)
    out.metrics["target/logit"] = target.detach().mean()
    return out


@register(
    "rso",
    paper="Statistical Rejection Sampling Improves Preference Optimization",
    arxiv="2309.06657",
    equation="hinge-norm / sigmoid-norm losses on first-round ranked pairs",
    data="listwise",
    logp="sum",
    requires=REF + (("rewards", "prefs"),),
    params={"beta": Param(0.1, "gamma of RSO: scale of the normalized likelihood margin", "(0, inf)"),
            "loss": Param("hinge", "hinge-norm (SLiC) or sigmoid-norm (DPO) on each pair", choices=("hinge", "sigmoid"))},
)
def rso(batch: ScoreBatch, *, beta: float, loss: str) -> ObjectiveOutput:
    """RSO: responses sampled (by rejection sampling) from the optimal policy, paired by first-round
    ranking, labelled by the reward model, trained with the normalized hinge (or sigmoid) loss.

    Liu et al., arXiv 2309.06657 (hinge-norm and sigmoid-norm losses, first-round ranking). Summed log-probs. Slots (0, 1), (2, 3), ... form
    the pairs; within a pair the winner has the higher ``rewards`` (or ``prefs[i, j] > 1/2``); ties and
    pairs with a missing slot are skipped:

        hinge:   loss = relu(1 - beta * (rho_win - rho_lose))
        sigmoid: loss = -logsig(beta * (rho_win - rho_lose))

    With K = 2 and hinge this is ``hinge`` on a pair ordered by the reward.
    """
    mask = batch.slot_mask()
    n_pairs = batch.K // 2
    if n_pairs == 0:
        raise BatchError("rso forms pairs from slots (0, 1), (2, 3), ...; it needs K >= 2")
    rho = batch.logratios()
    a, b = torch.arange(0, 2 * n_pairs, 2, device=rho.device), torch.arange(1, 2 * n_pairs, 2, device=rho.device)
    if batch.rewards is not None:
        edge = batch.rewards[:, a] - batch.rewards[:, b]
    else:
        edge = batch.prefs[:, a, b] - 0.5
    keep = mask[:, a] & mask[:, b] & (edge != 0)
    margin = torch.sign(edge) * (rho[:, a] - rho[:, b])
    z = beta * margin
    per_pair = F.relu(1 - z) if loss == "hinge" else -F.logsigmoid(z)
    per_pair = torch.where(keep, per_pair, torch.zeros_like(per_pair))
    count = keep.sum(1)
    losses = per_pair.sum(1) / count.clamp(min=1)
    metrics = {"pairs/kept": count.to(z.dtype).mean(),
               "rewards/margins": (z.detach() * keep).sum() / keep.sum().clamp(min=1),
               "rewards/accuracies": ((z.detach() > 0) & keep).sum().to(z.dtype) / keep.sum().clamp(min=1)}
    return ObjectiveOutput(losses.mean(), losses, metrics)
