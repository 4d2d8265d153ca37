"""The losses DiscoPOP's LLM-driven search discovered (Lu et al., arXiv 2406.08414, Table 1 and appendix).

Each follows the released code (``luchris429/DiscoPOP``, ``src/alignment/gpo.py``), constants included.
Notation: ``rho = (L_theta(y_w) - L_theta(y_l)) - (L_ref(y_w) - L_ref(y_l))`` on **summed** log-probs,
``z = beta * rho``; beta = 0.05 as in the paper's runs. AQFL, AQL and DBAQL use statistics of the whole
batch (mean, standard deviation, variance, unbiased, gradients flowing through them, as the code), so
their per-example losses depend on the batch and they need B >= 2; the code divides by the hard-coded
0.05 (``z / 0.05``), which equals ``rho`` only at beta = 0.05.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> b = ScoreBatch(policy_logps=torch.tensor([[-10.0, -30.0]]), ref_logps=torch.tensor([[-10.0, -10.0]]))
>>> out = get_objective("discopop", beta=0.05)(b)        # z = 1: sigma(20) ~ 1, so ~ exp(-1)
>>> round(out.loss.item(), 4)
0.3679
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import BatchError, ObjectiveOutput, ScoreBatch
from .dpo import REF, _output
from .pairs import chosen_rejected, pair_logratios
from .registry import Param, register

_PAPER = "Discovering Preference Optimization Algorithms with and for Large Language Models"
_BETA = Param(0.05, "beta of the implicit reward (the DiscoPOP runs used 0.05)", "(0, inf)")
_COMMON = dict(paper=_PAPER, arxiv="2406.08414", data="pairwise", logp="sum", requires=REF)
_STAT_SCALE = 0.05  # the code's hard-coded divisor for batch statistics


def _margin(batch: ScoreBatch) -> tuple[Tensor, Tensor, Tensor]:
    rho_w, rho_l = pair_logratios(batch)
    return rho_w, rho_l, rho_w - rho_l


def _need_batch_of_two(name: str, batch: ScoreBatch) -> None:
    if batch.B < 2:
        raise BatchError(f"{name} uses batch statistics (an unbiased variance) and needs B >= 2 pairs, got B={batch.B}")


@register("discopop", aliases=("lrml",), equation="Eq. 5 (LRML)", **_COMMON,
          params={"beta": _BETA, "tau": Param(0.05, "temperature of the sigmoid gate (discopop_tau)", "(0, inf)")})
def discopop(batch: ScoreBatch, *, beta: float, tau: float) -> ObjectiveOutput:
    """DiscoPOP / LRML (log-ratio modulated loss): a gate blends the logistic and the exponential loss.

    Lu et al., arXiv 2406.08414, Eq. 5; TRL ``loss_type="discopop"``. Summed log-probs.

        g = sig(z / tau),   loss = (1 - g) (-logsig(z)) + g exp(-z),   z = beta * rho
    """
    rho_w, rho_l, rho = _margin(batch)
    z = beta * rho
    gate = torch.sigmoid(z / tau)
    losses = (1 - gate) * -F.logsigmoid(z) + gate * torch.exp(-z)
    return _output(batch, losses, rho_w, rho_l, beta)


@register("padll", equation="Table 1 (PADLL); code in luchris429/DiscoPOP gpo.py", **_COMMON, params={"beta": _BETA})
def padll(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """PADLL (performance adaptive decay logistic loss): the logistic loss, halved on wrongly ordered pairs.

    Lu et al., arXiv 2406.08414, Table 1 (``performance_adaptive_decay_logistic_loss`` in the code). Summed log-probs.

        loss = 0.9 (1 - 0.5 [rho < 0]) (-logsig(beta * rho))
    """
    rho_w, rho_l, rho = _margin(batch)
    decay = 0.9 * (1 - 0.5 * (rho < 0).to(rho.dtype))
    losses = decay * -F.logsigmoid(beta * rho)
    return _output(batch, losses, rho_w, rho_l, beta)


@register("cell", equation="Table 1 (CELL); code in luchris429/DiscoPOP gpo.py", **_COMMON, params={"beta": _BETA})
def cell(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """CELL (combined exponential and logistic loss): the mean of the exponential and the logistic loss.

    Lu et al., arXiv 2406.08414, Table 1 (the released code). Summed log-probs.

        loss = 0.5 exp(-beta * rho) + 0.5 (-logsig(beta * rho))
    """
    rho_w, rho_l, rho = _margin(batch)
    z = beta * rho
    losses = 0.5 * torch.exp(-z) + 0.5 * -F.logsigmoid(z)
    return _output(batch, losses, rho_w, rho_l, beta)


@register("pfl", equation="Table 1 (PFL); code in luchris429/DiscoPOP gpo.py", **_COMMON, params={"beta": _BETA})
def pfl(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """PFL (policy focused loss): a gentle logistic loss where the policy alone already ranks the pair
    right, a doubled hinge where it does not.

    Lu et al., arXiv 2406.08414, Table 1 (the released code). Summed log-probs. The test looks at the policy's own
    log-probs, not the reference-adjusted margin (as the code):

        loss = -logsig(z) / 2   if L_theta(y_w) > L_theta(y_l)
               2 relu(1 - z)    otherwise,                        z = beta * rho
    """
    rho_w, rho_l, rho = _margin(batch)
    z = beta * rho
    logp_w, logp_l = chosen_rejected(batch, batch.policy_logps)
    losses = torch.where(logp_w > logp_l, -F.logsigmoid(z) / 2, 2 * F.relu(1 - z))
    return _output(batch, losses, rho_w, rho_l, beta)


@register("aqfl", equation="Table 1 (AQFL); code in luchris429/DiscoPOP gpo.py", **_COMMON, params={"beta": _BETA})
def aqfl(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """AQFL (adaptive quantile feedback loss): blends logistic and hinge by distance to a batch quantile.

    Lu et al., arXiv 2406.08414, Table 1 (the released code). Summed log-probs; batch statistics (needs B >= 2):

        s = z / 0.05,   q = std(s) mean(sig(-s)),   q = q + 0.05 (sig(mean(s)) - q)
        g = sig(0.1 |s - q|),   loss = g (-logsig(z)) + (1 - g) relu(1 - z)
    """
    _need_batch_of_two("aqfl", batch)
    rho_w, rho_l, rho = _margin(batch)
    z = beta * rho
    s = z / _STAT_SCALE
    quantile = s.std() * torch.sigmoid(-s).mean()
    quantile = quantile + 0.05 * (torch.sigmoid(s.mean()) - quantile)
    blend = torch.sigmoid(0.1 * (s - quantile).abs())
    losses = blend * -F.logsigmoid(z) + (1 - blend) * F.relu(1 - z)
    return _output(batch, losses, rho_w, rho_l, beta)


@register("aql", equation="Table 1 (AQL); code in luchris429/DiscoPOP gpo.py", **_COMMON, params={"beta": _BETA})
def aql(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """AQL (adaptive quantile loss): a per-example gate around a batch-moved quantile blends logistic and hinge.

    Lu et al., arXiv 2406.08414, Table 1 (the released code). Summed log-probs; uses the batch mean:

        s = z / 0.05,   q = 0.5 + 0.01 (sig(mean(s)) - 0.5),   g = sig(-(s - q))
        loss = g (-logsig(z)) + (1 - g) relu(1 - z)
    """
    rho_w, rho_l, rho = _margin(batch)
    z = beta * rho
    s = z / _STAT_SCALE
    quantile = 0.5 + 0.01 * (torch.sigmoid(s.mean()) - 0.5)
    gate = torch.sigmoid(-(s - quantile))
    losses = gate * -F.logsigmoid(z) + (1 - gate) * F.relu(1 - z)
    return _output(batch, losses, rho_w, rho_l, beta)


@register("dbaql", equation="Table 1 (DBAQL); code in luchris429/DiscoPOP gpo.py", **_COMMON, params={"beta": _BETA})
def dbaql(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """DBAQL (dynamic blended adaptive quantile loss): the batch variance blends a tempered logistic and
    a tempered exponential loss.

    Lu et al., arXiv 2406.08414, Table 1 (the released code). Summed log-probs; batch statistics (needs B >= 2):

        c = sig(var(z / 0.05)),   loss = c (-logsig(z / 0.9)) + (1 - c) exp(-0.9 z)
    """
    _need_batch_of_two("dbaql", batch)
    rho_w, rho_l, rho = _margin(batch)
    z = beta * rho
    coeff = torch.sigmoid((z / _STAT_SCALE).var())
    losses = coeff * -F.logsigmoid(z / 0.9) + (1 - coeff) * torch.exp(-z * 0.9)
    return _output(batch, losses, rho_w, rho_l, beta)
