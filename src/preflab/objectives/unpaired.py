"""Unpaired and binary-feedback objectives: each response judged alone (``labels`` +1 / -1), or negatives only.

Responses sit in the K slots of their prompt (K = 1 for TRL's unpaired ``prompt``/``completion``/``label``
rows). Unless said otherwise, the loss is the mean over all present responses (TRL's ``nanmean`` over
the concatenated desirable and undesirable losses) and ``per_example`` is the mean over a prompt's
responses.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> b = ScoreBatch(policy_logps=torch.tensor([[-8.0], [-12.0]]), ref_logps=torch.tensor([[-10.0], [-10.0]]),
...                labels=torch.tensor([[1], [-1]]))
>>> # reference point z0 = max(0, mean(2, -2)) = 0: 1 - sig(0.2) and 1 - sig(0.2)
>>> round(get_objective("kto", beta=0.1, reference_point="batch")(b).loss.item(), 4)
0.4502
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import BatchError, ObjectiveOutput, ScoreBatch
from .registry import Param, register

_BETA = Param(0.1, "inverse temperature of the implicit reward", "(0, inf)")


def _response_mean(batch: ScoreBatch, per_response: Tensor, select: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(loss over all selected responses, per-prompt mean [B]); prompts with none selected get 0."""
    keep = batch.slot_mask() if select is None else batch.slot_mask() & select
    vals = torch.where(keep, per_response, torch.zeros_like(per_response))
    count = keep.sum(1)
    per_example = vals.sum(1) / count.clamp(min=1)
    return vals.sum() / count.sum().clamp(min=1), per_example


def _label_metrics(batch: ScoreBatch, rewards: Tensor) -> dict:
    mask, r = batch.slot_mask(), rewards.detach()
    good, bad = mask & (batch.labels > 0), mask & (batch.labels < 0)
    out = {}
    if good.any():
        out["rewards/chosen"] = r[good].mean()
        out["logps/chosen"] = batch.policy_logps.detach()[good].mean()
    if bad.any():
        out["rewards/rejected"] = r[bad].mean()
        out["logps/rejected"] = batch.policy_logps.detach()[bad].mean()
    if good.any() and bad.any():
        out["rewards/margins"] = out["rewards/chosen"] - out["rewards/rejected"]
    return out


@register(
    "kto",
    paper="KTO: Model Alignment as Prospect Theoretic Optimization",
    arxiv="2402.01306",
    equation="Eq. 7, as TRL cites it",
    data="unpaired",
    logp="sum",
    requires=("ref_logps", "labels"),
    params={
        "beta": _BETA,
        "desirable_weight": Param(1.0, "lambda_D: weight of desirable responses", "(0, inf)"),
        "undesirable_weight": Param(1.0, "lambda_U: weight of undesirable responses", "(0, inf)"),
        "reference_point": Param("mismatched", "how z0 = KL(pi_theta || pi_ref) is estimated: from mismatched "
                                 "(x, y') pairs (kl_policy_logps, kl_ref_logps, as TRL), from the batch's own "
                                 "responses, or 0", choices=("mismatched", "batch", "zero")),
    },
)
def kto(batch: ScoreBatch, *, beta: float, desirable_weight: float, undesirable_weight: float,
        reference_point: str) -> ObjectiveOutput:
    """KTO: a prospect-theoretic value of each response's implicit reward against a KL reference point.

    Ethayarajh et al., arXiv 2402.01306, Eq. 7 (as TRL cites it); TRL ``KTOTrainer`` (``loss_type="kto"``). Summed log-probs.
    The reference point is detached and clamped at 0, as TRL:

        z0 = max(0, mean(L_theta(y') - L_ref(y')))   over mismatched pairs (x_i, y'_j)
        loss(y desirable)   = lambda_D (1 - sig(beta (rho(y) - z0)))
        loss(y undesirable) = lambda_U (1 - sig(beta (z0 - rho(y))))

    ``reference_point="batch"`` estimates z0 from the batch's own responses (no extra forward pass);
    ``"zero"`` sets z0 = 0.
    """
    rho = batch.logratios()
    if reference_point == "mismatched":
        if batch.kl_policy_logps is None or batch.kl_ref_logps is None:
            raise BatchError("kto with reference_point='mismatched' needs ScoreBatch.kl_policy_logps and "
                             "kl_ref_logps (log-probs of mismatched prompt/response pairs); or set "
                             "reference_point='batch' to estimate the KL from the batch's own responses")
        z0 = (batch.kl_policy_logps - batch.kl_ref_logps).detach().mean().clamp(min=0)
    elif reference_point == "batch":
        z0 = rho.detach()[batch.slot_mask()].mean().clamp(min=0)
    else:
        z0 = torch.zeros((), dtype=rho.dtype, device=rho.device)
    good = batch.labels > 0
    per_response = torch.where(good, desirable_weight * (1 - torch.sigmoid(beta * (rho - z0))),
                               undesirable_weight * (1 - torch.sigmoid(beta * (z0 - rho))))
    loss, per_example = _response_mean(batch, per_response)
    metrics = _label_metrics(batch, beta * rho)
    metrics["kl"] = z0.detach()
    return ObjectiveOutput(loss, per_example, metrics)


@dataclass
class RunningMean:
    """BCO's reward shift: the running mean of every implicit reward seen in training (TRL's
    ``RunningMoments``: updated with the batch before it is used; not updated while ``frozen``)."""

    mean: float = 0.0
    count: float = 1e-24
    frozen: bool = False

    def update(self, values: Tensor) -> None:
        n = values.numel()
        total = self.count + n
        self.mean += (values.double().mean().item() - self.mean) * n / total
        self.count = total

    def state_dict(self) -> dict:
        return {"mean": self.mean, "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.mean, self.count = float(state["mean"]), float(state["count"])


@register(
    "bco",
    paper="Binary Classifier Optimization for Large Language Model Alignment",
    arxiv="2404.04656",
    equation="Sec. 4 (BCO with the reward shift delta), as TRL BCOTrainer",
    data="unpaired",
    logp="sum",
    requires=("ref_logps", "labels"),
    state=RunningMean,
    params={"beta": _BETA},
)
def bco(batch: ScoreBatch, *, beta: float, state: RunningMean) -> ObjectiveOutput:
    """BCO: a binary classifier whose logit is the implicit reward minus a running reward shift delta.

    Jung et al., arXiv 2404.04656, Sec. 4; TRL ``BCOTrainer`` without the optional density
    ratio (UDM). Summed log-probs. delta is the running mean of all rewards seen so far, updated with
    this batch first (detached); ``objective.state`` holds it (``state_dict`` for checkpoints; set
    ``state.frozen = True`` during evaluation):

        r = beta * rho,   loss(desirable) = -logsig(r - delta),   loss(undesirable) = -logsig(-(r - delta))
    """
    mask = batch.slot_mask()
    rewards = beta * batch.logratios()
    if not state.frozen:
        state.update(rewards.detach()[mask])
    delta = torch.as_tensor(state.mean, dtype=rewards.dtype, device=rewards.device)
    per_response = torch.where(batch.labels > 0, -F.logsigmoid(rewards - delta), -F.logsigmoid(-(rewards - delta)))
    loss, per_example = _response_mean(batch, per_response)
    metrics = _label_metrics(batch, rewards)
    metrics["delta"] = delta
    return ObjectiveOutput(loss, per_example, metrics)


def _forget_set(batch: ScoreBatch) -> Tensor | None:
    """The responses to unlearn: those labelled -1, or all when there are no labels."""
    if batch.labels is None:
        return None
    select = batch.labels < 0
    if not (select & batch.slot_mask()).any():
        raise BatchError("no response in the batch is labelled -1 (undesirable), so there is nothing to unlearn")
    return select


@register(
    "npo",
    paper="Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning",
    arxiv="2404.05868",
    equation="the NPO loss (OPTML-Group code)",
    data="unpaired",
    logp="sum",
    requires=("ref_logps",),
    params={"beta": _BETA},
)
def npo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """NPO: DPO's loss with only a rejected response, a bounded way to push likelihoods down (unlearning).

    Zhang et al., arXiv 2404.05868. Summed log-probs. Applies to responses labelled -1 (all
    responses when ``labels`` is None):

        loss = -(2 / beta) logsig(-beta * rho) = (2 / beta) log(1 + (pi_theta / pi_ref)^beta)
    """
    rho = batch.logratios()
    per_response = -(2 / beta) * F.logsigmoid(-beta * rho)
    loss, per_example = _response_mean(batch, per_response, _forget_set(batch))
    return ObjectiveOutput(loss, per_example, {"rewards/rejected": (beta * rho).detach()[batch.slot_mask()].mean()})


@register(
    "simnpo",
    paper="Simplicity Prevails: Rethinking Negative Preference Optimization for LLM Unlearning",
    arxiv="2410.07163",
    equation="the SimNPO loss (OPTML-Group code)",
    data="unpaired",
    logp="mean",
    requires=("lengths",),
    params={"beta": Param(2.5, "inverse temperature", "(0, inf)"),
            "gamma": Param(0.0, "reward margin gamma (0 in most of the paper's runs)", "[0, inf)")},
)
def simnpo(batch: ScoreBatch, *, beta: float, gamma: float) -> ObjectiveOutput:
    """SimNPO: NPO with the reference replaced by length normalization (SimPO's reward), reference-free.

    Fan et al., arXiv 2410.07163. Per-token **averaged** log-probs. Applies to responses labelled
    -1 (all when ``labels`` is None):

        loss = -(2 / beta) logsig(-(beta / |y|) L_theta(y) - gamma)
    """
    avg = batch.policy_logps / batch.lengths.clamp(min=1).to(batch.policy_logps.dtype)
    per_response = -(2 / beta) * F.logsigmoid(-beta * avg - gamma)
    loss, per_example = _response_mean(batch, per_response, _forget_set(batch))
    return ObjectiveOutput(loss, per_example, {"logps/rejected": avg.detach()[batch.slot_mask()].mean()})


@register(
    "d2o",
    paper="Negating Negatives: Alignment with Human Negative Samples via Distributional Dispreference Optimization",
    arxiv="2403.03419",
    equation="Eq. 3",
    data="unpaired",
    logp="sum",
    requires=("ref_logps", "labels"),
    params={"beta": Param(0.1, "weight of the self-generated samples' mean log-ratio", "(0, inf)"),
            "alpha": Param(0.1, "weight of the human negative's log-ratio", "(0, inf)")},
)
def d2o(batch: ScoreBatch, *, beta: float, alpha: float) -> ObjectiveOutput:
    """D2O: learn from negatives only, contrasting each human-labelled negative with the distribution of
    the model's own samples.

    Duan et al., arXiv 2403.03419, Eq. 3. Summed log-probs. Per prompt, responses labelled +1 are the K
    samples y_i ~ pi_ref, responses labelled -1 the human negatives y_l; both references are ``ref_logps``
    (the paper's experiments use the SFT model for both). Several negatives average their losses:

        loss = -logsig( (beta / K) sum_i rho(y_i) - alpha rho(y_l) )
    """
    mask = batch.slot_mask()
    good, bad = mask & (batch.labels > 0), mask & (batch.labels < 0)
    if not (good.any(1) & bad.any(1)).all():
        raise BatchError("d2o needs, for every prompt, at least one self-generated sample (label +1) and one "
                         "human negative (label -1)")
    rho = batch.logratios()
    zero = torch.zeros_like(rho)
    sample_term = beta * torch.where(good, rho, zero).sum(1, keepdim=True) / good.sum(1, keepdim=True)
    per_negative = -F.logsigmoid(sample_term - alpha * rho)
    per_example = torch.where(bad, per_negative, zero).sum(1) / bad.sum(1)
    metrics = {"rewards/samples": sample_term.detach().mean(), "rewards/rejected": (alpha * rho).detach()[bad].mean()}
    return ObjectiveOutput(per_example.mean(), per_example, metrics)


@register(
    "dro",
    paper="Offline Regularised Reinforcement Learning for Large Language Models Alignment",
    arxiv="2405.19107",
    equation="the DRO-V squared loss, as TRL's DRO-V trainer",
    data="unpaired",
    logp="sum",
    requires=("ref_logps", "rewards", "values"),
    params={"tau": Param(1.0, "KL regularization tau", "(0, inf)")},
)
def dro(batch: ScoreBatch, *, tau: float) -> ObjectiveOutput:
    """DRO: single-trajectory feedback (x, y, r) fitted by a joint squared loss on the policy and a value V(x).

    Richemond et al., arXiv 2405.19107 (DRO-V); TRL's DRO-V trainer. Summed log-probs. ``values``
    [B] is V(x) from a value head (trainable: the same loss trains it). Mean over present responses:

        loss = 1/2 (r(x, y) - V(x) - tau * rho(y))^2
    """
    rho = batch.logratios()
    delta = batch.rewards - batch.values[:, None] - tau * rho
    loss, per_example = _response_mean(batch, 0.5 * delta ** 2)
    return ObjectiveOutput(loss, per_example, {"value/mean": batch.values.detach().mean(),
                                               "residual/mean": delta.detach()[batch.slot_mask()].mean()})
