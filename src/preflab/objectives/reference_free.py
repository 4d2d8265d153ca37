"""Reference-free pairwise objectives: no pi_ref in memory, the policy's own likelihoods are the reward.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> b = ScoreBatch(policy_logps=torch.tensor([[-4.0, -9.0]]), lengths=torch.tensor([[4, 6]]))
>>> round(get_objective("simpo", beta=2.0, gamma_beta_ratio=0.25)(b).loss.item(), 4)  # -logsig(2 (-1 + 1.5 - 0.25))
0.4741
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import ObjectiveOutput, ScoreBatch
from .pairs import pair_logps, reward_metrics
from .registry import Param, register


def _log1mexp(x: Tensor) -> Tensor:
    """``log(1 - exp(x))`` for x < 0, stable at both ends (Maechler 2012)."""
    return torch.where(x > -0.6931471805599453, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


@register(
    "simpo",
    paper="SimPO: Simple Preference Optimization with a Reference-Free Reward",
    arxiv="2405.14734",
    equation="Eq. 6",
    data="pairwise",
    logp="mean",
    requires=("lengths",),
    params={
        "beta": Param(2.0, "scale of the length-normalized reward (SimPO's default 2.0)", "(0, inf)"),
        "gamma_beta_ratio": Param(0.25, "target margin gamma divided by beta (SimPO's default 0.25)", "[0, inf)"),
        "label_smoothing": Param(0.0, "label smoothing eps, as the SimPO code", "[0, 0.5)"),
    },
)
def simpo(batch: ScoreBatch, *, beta: float, gamma_beta_ratio: float, label_smoothing: float) -> ObjectiveOutput:
    """SimPO: a margin on the length-normalized log-likelihoods, with no reference model.

    Meng et al., arXiv 2405.14734, Eq. 6, with the defaults of ``princeton-nlp/SimPO`` (beta 2.0, gamma/beta
    0.25). Per-token **averaged** log-probs:

        loss = -(1 - eps) logsig(beta (avg_w - avg_l) - gamma) - eps logsig(-(beta (avg_w - avg_l) - gamma)),
        gamma = beta * gamma_beta_ratio,   avg = L_theta(y) / |y|
    """
    avg_w, avg_l = pair_logps(batch, average=True)
    z = beta * (avg_w - avg_l - gamma_beta_ratio)
    losses = -(1 - label_smoothing) * F.logsigmoid(z) - label_smoothing * F.logsigmoid(-z)
    return ObjectiveOutput(losses.mean(), losses, reward_metrics(batch, beta * avg_w, beta * avg_l))


@register(
    "cpo",
    paper="Contrastive Preference Optimization: Pushing the Boundaries of LLM Performance in Machine Translation",
    arxiv="2401.08417",
    equation="L_prefer + L_NLL, as TRL CPOTrainer",
    data="pairwise",
    logp="sum",
    requires=("lengths",),
    params={
        "beta": Param(0.1, "scale of the log-likelihood margin", "(0, inf)"),
        "alpha": Param(1.0, "weight of the chosen response's NLL (TRL's cpo_alpha)", "[0, inf)"),
    },
)
def cpo(batch: ScoreBatch, *, beta: float, alpha: float) -> ObjectiveOutput:
    """CPO: DPO with the reference dropped (a uniform reference), plus a behaviour-cloning NLL.

    Xu et al., arXiv 2401.08417 (L_prefer + L_NLL); TRL ``CPOTrainer`` with ``loss_type="sigmoid"``. Summed log-probs
    in the preference term; the NLL term is per-token averaged per example (TRL averages over the batch's
    tokens instead).

        loss = -logsig(beta (L_theta(y_w) - L_theta(y_l))) - alpha L_theta(y_w) / |y_w|
    """
    logp_w, logp_l = pair_logps(batch)
    avg_w, _ = pair_logps(batch, average=True)
    losses = -F.logsigmoid(beta * (logp_w - logp_l)) - alpha * avg_w
    metrics = reward_metrics(batch, beta * logp_w, beta * logp_l)
    metrics["nll_loss"] = (-avg_w).detach().mean()
    return ObjectiveOutput(losses.mean(), losses, metrics)


@register(
    "orpo",
    paper="ORPO: Monolithic Preference Optimization without Reference Model",
    arxiv="2403.07691",
    equation="Eq. 6-7",
    data="pairwise",
    logp="mean",
    requires=("lengths",),
    params={"beta": Param(0.1, "lambda: weight of the odds-ratio term", "(0, inf)")},
)
def orpo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """ORPO: the chosen response's NLL plus a log-sigmoid of the log odds ratio of chosen over rejected.

    Hong et al., arXiv 2403.07691, Eq. 6-7; TRL ``ORPOTrainer``. Per-token **averaged** log-probs (also in
    the NLL, per example here, over the batch's tokens in TRL), odds(y) = p / (1 - p) with p = exp(avg):

        log_odds = (avg_w - avg_l) - (log(1 - exp(avg_w)) - log(1 - exp(avg_l)))
        loss = -avg_w - beta * logsig(log_odds)
    """
    avg_w, avg_l = pair_logps(batch, average=True)
    log_odds = (avg_w - avg_l) - (_log1mexp(avg_w) - _log1mexp(avg_l))
    ratio = F.logsigmoid(log_odds)
    losses = -avg_w - beta * ratio
    metrics = reward_metrics(batch, beta * avg_w, beta * avg_l)
    metrics.update({"nll_loss": (-avg_w).detach().mean(), "log_odds_ratio": ratio.detach().mean(),
                    "log_odds_chosen": log_odds.detach().mean()})
    return ObjectiveOutput(losses.mean(), losses, metrics)


@register(
    "asft",
    paper="ASFT: Aligned Supervised Fine-Tuning through Absolute Likelihood",
    arxiv="2409.10571",
    equation="L_ASFT = L_SFT + lambda L_align",
    data="pairwise",
    logp="mean",
    requires=("lengths",),
    params={"beta": Param(0.1, "lambda: weight of the absolute-likelihood alignment term (ORPO's default "
                               "scale; the paper's value is not verified here)", "(0, inf)")},
)
def asft(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """ASFT: SFT plus a binary classification of each response's own odds, with no reference and no pairing
    of the two terms (unlike ORPO's odds *ratio*).

    Wang et al., arXiv 2409.10571 (L_ASFT). Per-token **averaged** log-probs, p = exp(avg). Since
    sig(log-odds(p)) = p, the alignment term is log p_w + log(1 - p_l):

        loss = -avg_w - beta (logsig(logodds(y_w)) + logsig(-logodds(y_l))) = -avg_w - beta (avg_w + log(1 - exp(avg_l)))
    """
    avg_w, avg_l = pair_logps(batch, average=True)
    align = avg_w + _log1mexp(avg_l)
    losses = -avg_w - beta * align
    metrics = reward_metrics(batch, beta * avg_w, beta * avg_l)
    metrics["nll_loss"] = (-avg_w).detach().mean()
    return ObjectiveOutput(losses.mean(), losses, metrics)
