"""Pairwise objectives that need per-token log-probabilities: WPO's on-policy weighting, LD-DPO's
length desensitization.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> tok = torch.tensor([[[-1.0, -1.0, -1.0], [-2.0, -2.0, 0.0]]])      # chosen 3 tokens, rejected 2
>>> ref = torch.tensor([[[-1.0, -1.0, -1.0], [-1.0, -1.0, 0.0]]])
>>> tmask = torch.tensor([[[True, True, True], [True, True, False]]])
>>> b = ScoreBatch(policy_logps=tok.sum(-1), ref_logps=ref.sum(-1), token_logps=tok, ref_token_logps=ref, token_mask=tmask)
>>> # shared length 2: chosen rho = 0 + alpha * 0, rejected rho = -2; -logsig(0.1 * 2)
>>> round(get_objective("ld_dpo", beta=0.1, alpha=0.5)(b).loss.item(), 4)
0.5981
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import ObjectiveOutput, ScoreBatch
from .dpo import BETA, REF, _output
from .pairs import chosen_rejected, pair_logratios
from .registry import Param, register


def _token_mask(batch: ScoreBatch) -> Tensor:
    if batch.token_mask is not None:
        return batch.token_mask
    return torch.ones_like(batch.token_logps, dtype=torch.bool)


@register(
    "wpo",
    paper="WPO: Enhancing RLHF with Weighted Preference Optimization",
    arxiv="2406.11827",
    equation="Eq. 2 (weights, as TRL cites it) with sampled alignment, as TRL use_weighting",
    data="pairwise",
    logp="sum",
    requires=REF + ("token_logps", "token_log_sq_mass"),
    params={"beta": BETA},
)
def wpo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """WPO: DPO with each pair weighted by how likely the current policy is to produce both responses,
    simulating on-policy data from off-policy pairs.

    Zhou et al., arXiv 2406.11827, Eq. 2 (as TRL cites it), with the "sampled alignment" normalization TRL's current
    ``use_weighting=True`` uses (detached, not clamped; TRL before v1 clamped the product at 1). The DPO
    term uses summed log-probs; the weight a per-token average. ``token_log_sq_mass`` is
    log sum_v pi_theta(v | x, y_<t)^2, which the engine computes beside each token's log-prob:

        w(y) = exp( (1/|y|) sum_t [log pi_theta(y_t | ...) - log sum_v pi_theta(v | ...)^2] )
        loss = w(y_w) w(y_l) (-logsig(beta * rho))
    """
    tmask = _token_mask(batch)
    aligned = torch.where(tmask, batch.token_logps - batch.token_log_sq_mass, torch.zeros_like(batch.token_logps))
    weight = torch.exp(aligned.sum(-1) / tmask.sum(-1).clamp(min=1)).detach()
    w_w, w_l = chosen_rejected(batch, weight)
    rho_w, rho_l = pair_logratios(batch)
    losses = w_w * w_l * -F.logsigmoid(beta * (rho_w - rho_l))
    out = _output(batch, losses, rho_w, rho_l, beta)
    out.metrics["weights/mean"] = (w_w * w_l).mean()
    return out


@register(
    "ld_dpo",
    paper="LD-DPO: Length Desensitization in Direct Preference Optimization",
    arxiv="2409.06411",
    equation="the LD-DPO desensitized likelihood, as TRL ld_alpha",
    data="pairwise",
    logp="sum",
    requires=REF + ("token_logps", "ref_token_logps"),
    params={"beta": BETA,
            "alpha": Param(0.5, "weight of the tokens beyond the shorter response's length (1 is DPO; TRL has no "
                                "default, the paper tunes it per model)", "[0, 1]")},
)
def ld_dpo(batch: ScoreBatch, *, beta: float, alpha: float) -> ObjectiveOutput:
    """LD-DPO: DPO where the tokens past the shorter response's length count with weight alpha, so the
    longer response's extra length cannot dominate the margin.

    Liu et al., arXiv 2409.06411; TRL ``ld_alpha`` (v1 form: positions counted from the start
    of each completion, applied to policy and reference alike). Per-token log-probs, summed with weights.
    With l_p = min(|y_w|, |y_l|):

        L^ld(y) = sum_{t <= l_p} log pi(y_t | ...) + alpha sum_{t > l_p} log pi(y_t | ...)
        loss = -logsig(beta ((L^ld_theta(y_w) - L^ld_ref(y_w)) - (L^ld_theta(y_l) - L^ld_ref(y_l))))
    """
    tmask = _token_mask(batch)
    position = tmask.long().cumsum(-1)                     # 1-based position inside each completion
    length = tmask.sum(-1)                                  # [B, 2]
    shared = torch.minimum(length[:, 0], length[:, 1])[:, None, None]
    ones = torch.ones_like(batch.token_logps)
    weight = torch.where(position <= shared, ones, alpha * ones) * tmask

    def desensitized(tokens: Tensor) -> Tensor:
        return (torch.where(tmask, tokens, torch.zeros_like(tokens)) * weight).sum(-1)

    rho = desensitized(batch.token_logps) - desensitized(batch.ref_token_logps)
    rho_w, rho_l = chosen_rejected(batch, rho)
    return _output(batch, -F.logsigmoid(beta * (rho_w - rho_l)), rho_w, rho_l, beta)
