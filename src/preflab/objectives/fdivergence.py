"""f-DPO: DPO under other f-divergences than the reverse KL.

With ``u = pi_theta(y) / pi_ref(y)`` and the divergence's derivative ``f'``, the implicit reward becomes
``beta * f'(u)`` and the loss is ``-logsig(beta * (f'(u_w) - f'(u_l)))`` (Wang et al., arXiv 2309.16240,
the f-DPO loss). The reverse KL (``f'(u) = log u + 1``) gives DPO. All forms use summed log-probs.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> b = ScoreBatch(policy_logps=torch.tensor([[-1.0, -2.0]]), ref_logps=torch.tensor([[-1.0, -1.0]]))
>>> round(get_objective("fdpo_forward_kl", beta=1.0)(b).loss.item(), 4)   # -logsig(e^1 - e^0)
0.165
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import ObjectiveOutput, ScoreBatch
from .dpo import BETA, REF, _output
from .pairs import pair_logratios
from .registry import Param, register

_PAPER = "Beyond Reverse KL: Generalizing Direct Preference Optimization with Diverse Divergence Constraints"


def _capped_exp(x: Tensor) -> Tensor:
    """``exp(x)`` with the exponent capped at log(max float), as TRL's ``cap_exp``: no inf, finite gradients."""
    return torch.exp(x.clamp(max=math.log(torch.finfo(x.dtype).max)))


def _fdpo(batch: ScoreBatch, beta: float, margin: Tensor, rho_w: Tensor, rho_l: Tensor) -> ObjectiveOutput:
    return _output(batch, -F.logsigmoid(beta * margin), rho_w, rho_l, beta)


@register(
    "fdpo_forward_kl",
    paper=_PAPER,
    arxiv="2309.16240",
    equation="the f-DPO loss with the forward KL, f'(u) = -1/u",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA},
)
def fdpo_forward_kl(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """f-DPO with the forward KL: the implicit reward is -beta / u, mass-covering.

    Wang et al., arXiv 2309.16240, the f-DPO loss with f(u) = -log u. Summed log-probs. Equal to ``fdpo_alpha``
    at alpha = 1 (TRL's alpha-divergence default).

        loss = -logsig(beta * (exp(-rho_l) - exp(-rho_w)))
    """
    rho_w, rho_l = pair_logratios(batch)
    return _fdpo(batch, beta, _capped_exp(-rho_l) - _capped_exp(-rho_w), rho_w, rho_l)


@register(
    "fdpo_js",
    paper=_PAPER,
    arxiv="2309.16240",
    equation="the f-DPO loss with the Jensen-Shannon divergence, f'(u) = log(2u / (1 + u))",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA},
)
def fdpo_js(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """f-DPO with the Jensen-Shannon divergence; TRL ``f_divergence_type="js_divergence"``.

    Wang et al., arXiv 2309.16240, the f-DPO loss. Summed log-probs. Since log(2u/(1+u)) = log 2 + rho -
    softplus(rho):

        loss = -logsig(beta * (rho_w - rho_l - softplus(rho_w) + softplus(rho_l)))
    """
    rho_w, rho_l = pair_logratios(batch)
    margin = rho_w - rho_l - (F.softplus(rho_w) - F.softplus(rho_l))
    return _fdpo(batch, beta, margin, rho_w, rho_l)


@register(
    "fdpo_alpha",
    paper=_PAPER,
    arxiv="2309.16240",
    equation="the f-DPO loss with the alpha-divergence, f'(u) = (1 - u^-alpha) / alpha",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA,
            "alpha": Param(0.5, "alpha of the divergence: -> 0 is the reverse KL (DPO), 1 the forward KL", "(0, 1]")},
)
def fdpo_alpha(batch: ScoreBatch, *, beta: float, alpha: float) -> ObjectiveOutput:
    """f-DPO with the alpha-divergence; TRL ``f_divergence_type="alpha_divergence"``.

    Wang et al., arXiv 2309.16240, the f-DPO loss. Summed log-probs. Exponents are capped as TRL's ``cap_exp``.

        loss = -logsig(beta * (exp(-alpha rho_l) - exp(-alpha rho_w)) / alpha)
    """
    rho_w, rho_l = pair_logratios(batch)
    margin = (_capped_exp(-alpha * rho_l) - _capped_exp(-alpha * rho_w)) / alpha
    return _fdpo(batch, beta, margin, rho_w, rho_l)
