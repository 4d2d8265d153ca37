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


@register(
    "listnet",
    paper="LiPO: Listwise Preference Optimization through Learning-to-Rank",
    arxiv="2402.01878",
    equation="Sec. 4.1 (ListNet, Cao et al. 2007, top-one softmax cross-entropy)",
    data="listwise",
    logp="sum",
    requires=("ref_logps", ("rewards", "ranks")),
    params={"beta": _BETA},
)
def listnet(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """ListNet: cross-entropy between the labels' softmax and the implicit rewards' softmax over a list.

    LiPO (Liu et al., arXiv 2402.01878), Sec. 4.1, the ListNet baseline (Cao et al., 2007). Summed
    log-probs. Labels psi are ``rewards`` (or -ranks):

        loss = -sum_k softmax(psi)_k log softmax(s)_k,   s = beta * rho
    """
    mask = batch.slot_mask()
    scores = beta * batch.logratios()
    labels = list_labels(batch)
    neg = _very_negative(scores)
    log_p = F.log_softmax(torch.where(mask, scores, torch.full_like(scores, neg)), dim=1)
    target = F.softmax(torch.where(mask, labels, torch.full_like(labels, neg)), dim=1)
    losses = -torch.where(mask, target * log_p, torch.zeros_like(log_p)).sum(1)
    return ObjectiveOutput(losses.mean(), losses, _list_metrics(batch, scores, labels))
