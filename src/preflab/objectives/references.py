"""Objectives with more than one reference model: MRPO's blend of two references, Pre-DPO's guide.

Further references come in ``extra_ref_logps`` [B, K, R] (summed log-probs), beside ``ref_logps``.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> b = ScoreBatch(policy_logps=torch.tensor([[-10.0, -14.0]]), ref_logps=torch.tensor([[-12.0, -12.0]]),
...                extra_ref_logps=torch.tensor([[[-11.0], [-12.0]]]))
>>> round(get_objective("pre_dpo", beta=0.1)(b).loss.item(), 4)    # DPO against the guide: -logsig(0.1 * 3)
0.5544
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import BatchError, ObjectiveOutput, ScoreBatch
from .dpo import BETA, _output
from .pairs import chosen_rejected
from .registry import Param, register


def _one_extra(batch: ScoreBatch, name: str) -> Tensor:
    if batch.extra_ref_logps.shape[-1] != 1:
        raise BatchError(f"{name} reads one further reference in extra_ref_logps [B, K, 1], got "
                         f"R={batch.extra_ref_logps.shape[-1]}")
    return batch.extra_ref_logps[..., 0]


@register(
    "mrpo",
    paper="Multi-Reference Preference Optimization for Large Language Models",
    arxiv="2405.16388",
    equation="the MRPO loss with CTRO clipping and ARWC weights, as the released trainer",
    data="pairwise",
    logp="sum",
    requires=("ref_logps", "extra_ref_logps"),
    params={
        "beta": BETA,
        "eta": Param(0.1, "CTRO clip range epsilon: the second reference's log-probs are kept within +-eta "
                          "(relative) of the first; scaled adaptively per pair (a negative value is a fixed |eta|)",
                     "(-1, 1)"),
        "alpha": Param(-1.0, "weight of the extra reference; -1 is the adaptive (ARWC) weight from each pair's "
                             "reference margins", "[-1, 1]"),
    },
    param_check=lambda hp: None if hp["alpha"] == -1 or hp["alpha"] >= 0 else
    f"alpha={hp['alpha']} must be -1 (adaptive) or in [0, 1]",
)
def mrpo(batch: ScoreBatch, *, beta: float, eta: float, alpha: float) -> ObjectiveOutput:
    """MRPO: DPO against a blend of two references, the policy's own base and an external model.

    Le et al., arXiv 2405.16388, following the released trainer (``MRefDPOTrainer``): summed
    log-probs; ``ref_logps`` is the policy's own base r2, ``extra_ref_logps[..., 0]`` the external model r1
    (the code supports exactly these two). Per response, with CTRO clipping of r1 around r2 and the
    adaptive weight (ARWC) a = |h_1| / (|h_1| + |h_2| + 1e-6), h_i the reference margins before clipping:

        s = |b_w| / (|b_w| + |b_l|),  b = (r1 + r2) / 2;   eta_w = eta s, eta_l = eta (1 - s)
        r1 <- clamp(r1, r2 (1 + eta_y), r2 (1 - eta_y))
        r0 = r1 + r2 - log(a exp(r1) + (1 - a) exp(r2))          (a weighted harmonic mean of the references)
        loss = -logsig(beta ((L_theta(y_w) - r0_w) - (L_theta(y_l) - r0_l)))
    """
    r2_w, r2_l = chosen_rejected(batch, batch.ref_logps)
    r1_w, r1_l = chosen_rejected(batch, _one_extra(batch, "mrpo"))
    if alpha < 0:
        h1, h2 = (r1_w - r1_l).abs(), (r2_w - r2_l).abs()
        a = h1 / (h1 + h2 + 1e-6)
    else:
        a = torch.full_like(r1_w, alpha)
    if eta < 0:
        eta_w = eta_l = torch.full_like(r1_w, -eta)
    else:
        b_w, b_l = ((r1_w + r2_w) / 2).abs(), ((r1_l + r2_l) / 2).abs()
        scale = b_w / (b_w + b_l)
        eta_w, eta_l = eta * scale, eta * (1 - scale)
    r1_w = torch.minimum(torch.maximum(r1_w, r2_w * (1 + eta_w)), r2_w * (1 - eta_w))
    r1_l = torch.minimum(torch.maximum(r1_l, r2_l * (1 + eta_l)), r2_l * (1 - eta_l))

    def blend(r1, r2):
        log_a = torch.log(a)
        log_1ma = torch.log1p(-a)
        return r1 + r2 - torch.logaddexp(log_a + r1, log_1ma + r2)

    r0_w, r0_l = blend(r1_w, r2_w), blend(r1_l, r2_l)
    logp_w, logp_l = chosen_rejected(batch, batch.policy_logps)
    rho_w, rho_l = logp_w - r0_w, logp_l - r0_l
    out = _output(batch, -F.logsigmoid(beta * (rho_w - rho_l)), rho_w, rho_l, beta)
    out.metrics["mrpo/alpha"] = a.detach().mean()
    return out


@register(
    "pre_dpo",
    paper="Pre-DPO: Improving Data Utilization in Direct Preference Optimization Using a Guiding Reference Model",
    arxiv="2504.15843",
    equation="DPO with the guiding reference in place of pi_ref (DtYXs/Pre-DPO scripts)",
    data="pairwise",
    logp="sum",
    requires=("extra_ref_logps",),
    params={"beta": Param(0.05, "inverse temperature (the paper's 0.05)", "(0, inf)")},
)
def pre_dpo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """Pre-DPO: DPO from the SFT model again, with a model already trained by DPO (or SimPO) as the reference.

    Pan et al., arXiv 2504.15843. Summed log-probs. The guide is ``extra_ref_logps[..., 0]``:

        loss = -logsig(beta ((L_theta(y_w) - L_guide(y_w)) - (L_theta(y_l) - L_guide(y_l))))

    Its effect is a data weighting: DPO's per-pair gradient weight sig(-beta * margin) starts, at
    pi_theta = pi_SFT, at sig(beta * guide margin over SFT), so pairs the guide learned well weigh more.
    When ``ref_logps`` (the SFT model) is given, that initial weight is reported as ``weights/guide``.
    """
    guide_w, guide_l = chosen_rejected(batch, _one_extra(batch, "pre_dpo"))
    logp_w, logp_l = chosen_rejected(batch, batch.policy_logps)
    rho_w, rho_l = logp_w - guide_w, logp_l - guide_l
    out = _output(batch, -F.logsigmoid(beta * (rho_w - rho_l)), rho_w, rho_l, beta)
    if batch.ref_logps is not None:
        sft_w, sft_l = chosen_rejected(batch, batch.ref_logps)
        out.metrics["weights/guide"] = torch.sigmoid(beta * ((guide_w - sft_w) - (guide_l - sft_l))).detach().mean()
    return out
