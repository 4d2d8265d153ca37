"""AOT: distributional alignment by optimal transport, a DPO loss on sorted (quantile-matched) log-ratios.

AOT makes the distribution of the chosen rewards dominate that of the rejected ones (first-order
stochastic dominance). In one dimension the optimal transport plan matches quantiles, so the loss sorts
over the **batch** and compares order statistics: ``per_example[i]`` is the loss of the i-th order
statistic, not of row i.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> b = ScoreBatch(policy_logps=torch.tensor([[-1.0, -3.0], [-2.0, -1.0]]), ref_logps=torch.zeros(2, 2))
>>> [round(v, 4) for v in get_objective("aot_unpaired", beta=1.0)(b).per_example.tolist()]  # sorted: w [-2,-1], l [-3,-1]
[0.3133, 0.6931]
"""

from __future__ import annotations

import torch
from torch import Tensor

from .batch import ObjectiveOutput, ScoreBatch
from .dpo import BETA, REF, _output, _smoothed_logistic
from .pairs import chosen_rejected, pair_logratios
from .registry import Param, register

_EPS = Param(0.0, "label smoothing eps of the logistic loss on sorted margins", "[0, 0.5)")


def _sorted_loss(batch: ScoreBatch, delta: Tensor, beta: float, label_smoothing: float) -> ObjectiveOutput:
    rho_w, rho_l = pair_logratios(batch)
    return _output(batch, _smoothed_logistic(beta * delta, label_smoothing), rho_w, rho_l, beta)


@register(
    "aot",
    paper="Distributional Preference Alignment of LLMs via Optimal Transport",
    arxiv="2406.05882",
    equation="Sec. 3 (paired AOT), as TRL loss_type='aot'",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA, "label_smoothing": _EPS},
)
def aot(batch: ScoreBatch, *, beta: float, label_smoothing: float) -> ObjectiveOutput:
    """AOT, paired: the sorted policy margins must dominate the sorted reference margins.

    Melnyk et al., arXiv 2406.05882, Sec. 3 (paired); TRL ``loss_type="aot"``. Summed log-probs. With ``sort``
    over the batch dimension:

        delta = sort(L_theta(y_w) - L_theta(y_l)) - sort(L_ref(y_w) - L_ref(y_l))
        loss_i = -(1 - eps) logsig(beta * delta_i) - eps logsig(-beta * delta_i)
    """
    logp_w, logp_l = chosen_rejected(batch, batch.policy_logps)
    ref_w, ref_l = chosen_rejected(batch, batch.ref_logps)
    delta = torch.sort(logp_w - logp_l).values - torch.sort(ref_w - ref_l).values
    return _sorted_loss(batch, delta, beta, label_smoothing)


@register(
    "aot_unpaired",
    aliases=("aot_pair",),
    paper="Distributional Preference Alignment of LLMs via Optimal Transport",
    arxiv="2406.05882",
    equation="Sec. 3 (unpaired AOT), as TRL loss_type='aot_unpaired' (formerly 'aot_pair')",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA, "label_smoothing": _EPS},
)
def aot_unpaired(batch: ScoreBatch, *, beta: float, label_smoothing: float) -> ObjectiveOutput:
    """AOT, unpaired: the sorted chosen log-ratios must dominate the sorted rejected log-ratios.

    Melnyk et al., arXiv 2406.05882, Sec. 3 (unpaired); TRL ``loss_type="aot_unpaired"`` (named ``aot_pair`` in TRL
    before 0.20, kept here as an alias). Summed log-probs. Chosen and rejected are sorted separately,
    so the pairing inside the batch is ignored:

        delta = sort(rho_w) - sort(rho_l)
        loss_i = -(1 - eps) logsig(beta * delta_i) - eps logsig(-beta * delta_i)
    """
    rho_w, rho_l = pair_logratios(batch)
    delta = torch.sort(rho_w).values - torch.sort(rho_l).values
    return _sorted_loss(batch, delta, beta, label_smoothing)
