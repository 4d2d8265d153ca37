"""Listwise objectives: K > 2 ranked or scored responses per prompt, ragged lists through ``mask``.

Each response's score is its implicit reward ``s_k = beta * (L_theta(y_k) - L_ref(y_k))`` on summed
log-probs. Labels come from ``rewards`` when given, else from ``ranks`` (label = -rank, so higher is
better). Masked slots take no part.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> b = ScoreBatch(policy_logps=torch.tensor([[-1.0, -2.0, -3.0]]), ref_logps=torch.zeros(1, 3),
...                ranks=torch.tensor([[0, 1, 2]]))
>>> round(get_objective("plackett_luce", beta=1.0)(b).loss.item(), 4)  # log(1+e^-1+e^-2) + log(1+e^-1)
0.7209
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import BatchError, ObjectiveOutput, ScoreBatch
from .registry import Param, register
from .signals import prefs_from_ranks, win_rates_from_prefs

_BETA = Param(0.1, "inverse temperature of the implicit reward", "(0, inf)")


def _very_negative(x: Tensor) -> float:
    """A finite stand-in for -inf: exp() of it is 0, and no gradient through it turns into NaN."""
    return torch.finfo(x.dtype).min / 4


def list_labels(batch: ScoreBatch) -> Tensor:
    """Relevance labels [B, K], higher is better: ``rewards``, else ``-ranks``."""
    if batch.rewards is not None:
        return batch.rewards
    return -batch.ranks.to(batch.policy_logps.dtype)


def _list_metrics(batch: ScoreBatch, scores: Tensor, labels: Tensor) -> dict:
    """How often the implicit rewards order pairs as the labels do, and the best response's reward."""
    mask = batch.slot_mask()
    s, y = scores.detach(), labels.detach()
    pairs = mask[:, :, None] & mask[:, None, :] & (y[:, :, None] > y[:, None, :])
    agree = (s[:, :, None] > s[:, None, :]) & pairs
    return {
        "rewards/mean": s[mask].mean(),
        "rewards/accuracies": agree.sum().to(s.dtype) / pairs.sum().clamp(min=1),
    }


@register(
    "plackett_luce",
    aliases=("pl", "dpo_listwise"),
    paper="Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
    arxiv="2305.18290",
    equation="App. A.3, Eq. 20 (Plackett-Luce)",
    data="listwise",
    logp="sum",
    requires=("ref_logps", "ranks"),
    params={"beta": _BETA},
)
def plackett_luce(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """DPO under the Plackett-Luce model: the likelihood of the whole ranking, one choice at a time.

    Rafailov et al., arXiv 2305.18290, App. A.3, Eq. 20. Summed log-probs. With tau the order of the
    ``ranks`` (best first, ties broken by slot index) over the n present responses:

        loss = -sum_{k=1}^{n} [ s_tau(k) - log sum_{j>=k} exp(s_tau(j)) ],   s = beta * rho

    With K = 2 this is ``dpo``.
    """
    mask = batch.slot_mask()
    scores = beta * batch.logratios()
    neg = _very_negative(scores)
    key = torch.where(mask, batch.ranks.to(scores.dtype), torch.full_like(scores, math.inf))
    order = torch.sort(key, dim=1, stable=True).indices
    s = torch.where(mask, scores, torch.full_like(scores, neg)).gather(1, order)
    present = mask.gather(1, order)
    tail_lse = torch.logcumsumexp(s.flip(1), dim=1).flip(1)
    terms = torch.where(present, s - tail_lse, torch.zeros_like(s))
    losses = -terms.sum(1)
    return ObjectiveOutput(losses.mean(), losses, _list_metrics(batch, scores, list_labels(batch)))


def win_rate_labels(batch: ScoreBatch) -> Tensor:
    """LiPO's labels psi_k = (1/n) sum_j P(y_k > y_j) over the n present responses (self term 1/2): from
    ``prefs``, else ``rewards`` as given, else hard preferences from ``ranks`` (ties count 1/2)."""
    if batch.prefs is None and batch.rewards is not None:
        return batch.rewards
    prefs = batch.prefs if batch.prefs is not None else prefs_from_ranks(batch.ranks, batch.policy_logps.dtype)
    return win_rates_from_prefs(prefs, batch.slot_mask())


@register(
    "lipo_lambda",
    aliases=("lipo",),
    paper="LiPO: Listwise Preference Optimization through Learning-to-Rank",
    arxiv="2402.01878",
    equation="Eq. 8 (Lambda loss with DCG lambda weights)",
    data="listwise",
    logp="sum",
    requires=("ref_logps", ("prefs", "rewards", "ranks")),
    params={"beta": Param(0.05, "inverse temperature of the implicit reward (LiPO's 0.05)", "(0, inf)")},
)
def lipo_lambda(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """LiPO-lambda: pairwise logistic losses over a list, each pair weighted by how much swapping it would
    change the list's DCG.

    Liu et al., arXiv 2402.01878, Eq. 8. Summed log-probs. Labels psi are win rates (``prefs`` row means,
    ``rewards`` as given, or hard preferences from ``ranks``); tau(i) is the 1-based position of y_i when
    sorted by the model's scores s (detached), as the paper specifies:

        s = beta * rho,   G_i = 2^psi_i - 1,   D(tau) = log2(1 + tau)
        Delta_ij = |G_i - G_j| |1/D(tau(i)) - 1/D(tau(j))|
        loss = sum_{psi_i > psi_j} Delta_ij log(1 + exp(-(s_i - s_j)))

    With K = 2 this is DPO weighted by Delta = (2^psi_w - 2^psi_l)(1 - 1/log2(3)).
    """
    mask = batch.slot_mask()
    scores = beta * batch.logratios()
    psi = win_rate_labels(batch)
    neg = _very_negative(scores)
    order = torch.argsort(torch.where(mask, scores.detach(), torch.full_like(scores, neg)), dim=1, descending=True, stable=True)
    position = torch.empty_like(order)
    position.scatter_(1, order, torch.arange(1, batch.K + 1, device=order.device).expand_as(order))
    inv_discount = 1.0 / torch.log2(1.0 + position.to(scores.dtype))
    gain = torch.pow(2.0, psi) - 1
    delta = (gain[:, :, None] - gain[:, None, :]).abs() * (inv_discount[:, :, None] - inv_discount[:, None, :]).abs()
    pairs = mask[:, :, None] & mask[:, None, :] & (psi[:, :, None] > psi[:, None, :])
    pair_loss = F.softplus(-(scores[:, :, None] - scores[:, None, :]))
    losses = torch.where(pairs, delta.detach() * pair_loss, torch.zeros_like(pair_loss)).sum((1, 2))
    return ObjectiveOutput(losses.mean(), losses, _list_metrics(batch, scores, psi))


@register(
    "listnet",
    paper="LiPO: Listwise Preference Optimization through Learning-to-Rank",
    arxiv="2402.01878",
    equation="Eq. 11 (ListNet, Cao et al. 2007, top-one cross-entropy)",
    data="listwise",
    logp="sum",
    requires=("ref_logps", ("prefs", "rewards", "ranks")),
    params={"beta": Param(0.05, "inverse temperature of the implicit reward (LiPO's 0.05)", "(0, inf)"),
            "target": Param("normalize", "how labels become a distribution: psi / sum(psi) (LiPO Eq. 11) or "
                                         "softmax(psi) (Cao et al.)", choices=("normalize", "softmax"))},
)
def listnet(batch: ScoreBatch, *, beta: float, target: str) -> ObjectiveOutput:
    """ListNet: cross-entropy between a target distribution from the labels and the softmax of the
    implicit rewards over the list.

    LiPO (Liu et al., arXiv 2402.01878), Eq. 11, the ListNet loss of Cao et al. (2007). Summed log-probs.
    Labels psi are win rates as in ``lipo_lambda``:

        loss = -sum_k q_k log softmax(s)_k,   s = beta * rho,   q = psi / sum(psi)  (or softmax(psi))
    """
    mask = batch.slot_mask()
    scores = beta * batch.logratios()
    labels = win_rate_labels(batch)
    neg = _very_negative(scores)
    log_p = F.log_softmax(torch.where(mask, scores, torch.full_like(scores, neg)), dim=1)
    if target == "softmax":
        q = F.softmax(torch.where(mask, labels, torch.full_like(labels, neg)), dim=1)
    else:
        if (labels[mask] < 0).any():
            raise BatchError("listnet with target='normalize' needs labels >= 0 (win rates); "
                             "use target='softmax' for signed rewards")
        kept = torch.where(mask, labels, torch.zeros_like(labels))
        q = kept / kept.sum(1, keepdim=True).clamp(min=torch.finfo(kept.dtype).tiny)
    losses = -torch.where(mask, q * log_p, torch.zeros_like(log_p)).sum(1)
    return ObjectiveOutput(losses.mean(), losses, _list_metrics(batch, scores, labels))


@register(
    "mpo",
    aliases=("swepo",),
    paper="Multi-Preference Optimization: Generalizing DPO via Set-Level Contrasts",
    arxiv="2412.04628",
    equation="the weighted set-level contrast (MPO, formerly SWEPO)",
    data="listwise",
    logp="sum",
    requires=("ref_logps", "rewards"),
    params={"beta": _BETA,
            "alpha": Param(1.0, "strength of the deviation weighting: w = exp(alpha |r - mean r|); 0 is unweighted",
                           "[0, inf)")},
)
def mpo(batch: ScoreBatch, *, beta: float, alpha: float) -> ObjectiveOutput:
    """MPO (SWEPO): raise the weighted probability mass of the above-average responses against all responses.

    Gupta et al., arXiv 2412.04628. Summed log-probs. Responses with reward above the prompt's mean
    form the positive set Y+, the others Y-; each response is weighted by its absolute deviation from the
    mean, so far-from-average responses count more (the paper's weights exp(alpha dS); the form for the
    negative set follows our reading of the paper):

        s = beta * rho,   w = exp(alpha |r - mean(r)|)
        loss = -log( sum_{Y+} w e^s / sum_{Y+ and Y-} w e^s )

    A prompt whose rewards are all equal has no positive set and contributes 0.
    """
    mask = batch.slot_mask()
    scores = beta * batch.logratios()
    rewards = batch.rewards.detach()
    m = mask.to(rewards.dtype)
    mean = (rewards * m).sum(1, keepdim=True) / m.sum(1, keepdim=True)
    dev = rewards - mean
    positive = mask & (dev > 0)
    logits = scores + alpha * dev.abs()
    neg = _very_negative(scores)
    log_all = torch.logsumexp(torch.where(mask, logits, torch.full_like(logits, neg)), dim=1)
    log_pos = torch.logsumexp(torch.where(positive, logits, torch.full_like(logits, neg)), dim=1)
    has_pos = positive.any(1)
    losses = torch.where(has_pos, log_all - log_pos, torch.zeros_like(log_all))
    return ObjectiveOutput(losses.mean(), losses, _list_metrics(batch, scores, rewards))
