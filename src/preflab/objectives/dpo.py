"""DPO and the pairwise losses of its family: functions of the reference-normalized margin.

Notation: ``rho_w = log pi_theta(y_w) - log pi_ref(y_w)`` (likewise ``rho_l``), ``rho = rho_w - rho_l``,
``z = beta * rho``, ``logsig = log sigmoid``. Log-probabilities are summed over completion tokens unless
an objective says otherwise.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> batch = ScoreBatch(policy_logps=torch.tensor([[-10.0, -14.0]]), ref_logps=torch.tensor([[-11.0, -12.0]]),
...                    lengths=torch.tensor([[5, 8]]))
>>> round(get_objective("dpo", beta=0.1)(batch).loss.item(), 6)   # -logsig(0.1 * 3)
0.554355
>>> round(get_objective("hinge", beta=0.1)(batch).loss.item(), 6)  # relu(1 - 0.3)
0.7
>>> round(get_objective("ipo", beta=0.1)(batch).loss.item(), 6)    # (1/5 + 2/8 - 5)^2
20.7025
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import ObjectiveOutput, ScoreBatch
from .pairs import chosen_rejected, pair_logps, pair_logratios, reward_metrics
from .registry import Param, register

BETA = Param(0.1, "inverse temperature of the implicit reward beta * log(pi/pi_ref)", "(0, inf)")
REF = ("ref_logps",)


def _output(batch: ScoreBatch, losses: Tensor, rho_w: Tensor, rho_l: Tensor, beta: float) -> ObjectiveOutput:
    return ObjectiveOutput(losses.mean(), losses, reward_metrics(batch, beta * rho_w, beta * rho_l))


def _smoothed_logistic(z: Tensor, eps: float) -> Tensor:
    """``-(1 - eps) logsig(z) - eps logsig(-z)``: logistic loss against the soft label 1 - eps."""
    return -(1 - eps) * F.logsigmoid(z) - eps * F.logsigmoid(-z)


@register(
    "dpo",
    aliases=("sigmoid",),
    paper="Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
    arxiv="2305.18290",
    equation="Eq. 7",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA,
            "label_smoothing": Param(0.0, "assumed label-flip rate (conservative DPO); 0 is plain DPO", "[0, 0.5)")},
)
def dpo(batch: ScoreBatch, *, beta: float, label_smoothing: float) -> ObjectiveOutput:
    """DPO: logistic regression of the preference on the implicit reward margin.

    Rafailov et al., arXiv 2305.18290, Eq. 7; TRL ``loss_type="sigmoid"``. Summed log-probs.

        loss = -(1 - eps) logsig(beta * rho) - eps logsig(-beta * rho),   rho = rho_w - rho_l

    With ``label_smoothing`` eps = 0 (the default) this is plain DPO.
    """
    rho_w, rho_l = pair_logratios(batch)
    losses = _smoothed_logistic(beta * (rho_w - rho_l), label_smoothing)
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "cdpo",
    paper="A note on DPO with noisy preferences and relationship to IPO (conservative DPO)",
    arxiv="2305.18290",
    equation="cDPO note (Mitchell 2023) on DPO Eq. 7",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA, "label_smoothing": Param(0.1, "assumed label-flip rate eps", "[0, 0.5)")},
)
def cdpo(batch: ScoreBatch, *, beta: float, label_smoothing: float) -> ObjectiveOutput:
    """Conservative DPO: DPO against soft labels, for preferences flipped with rate eps.

    Mitchell (2023), "A note on DPO with noisy preferences", on DPO (arXiv 2305.18290, Eq. 7); TRL's
    ``loss_type="sigmoid"`` with ``label_smoothing``. Summed log-probs.

        loss = -(1 - eps) logsig(beta * rho) - eps logsig(-beta * rho)

    eps = 0 is DPO. Unlike ``robust_dpo`` its minimizer is biased toward a finite margin.
    """
    return dpo(batch, beta=beta, label_smoothing=label_smoothing)


@register(
    "robust_dpo",
    aliases=("robust",),
    paper="Provably Robust DPO: Aligning Language Models with Noisy Feedback",
    arxiv="2403.00409",
    equation="Sec. 3.1 (the rDPO loss)",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA, "label_smoothing": Param(0.1, "known label-flip rate eps", "[0, 0.5)")},
)
def robust_dpo(batch: ScoreBatch, *, beta: float, label_smoothing: float) -> ObjectiveOutput:
    """rDPO: an unbiased estimate of the clean DPO loss under labels flipped with rate eps.

    Chowdhury et al., arXiv 2403.00409, Sec. 3.1; TRL ``loss_type="robust"``. Summed log-probs.

        loss = ((1 - eps) (-logsig(beta * rho)) - eps (-logsig(-beta * rho))) / (1 - 2 eps)
    """
    eps = label_smoothing
    rho_w, rho_l = pair_logratios(batch)
    z = beta * (rho_w - rho_l)
    losses = ((1 - eps) * -F.logsigmoid(z) - eps * -F.logsigmoid(-z)) / (1 - 2 * eps)
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "ipo",
    paper="A General Theoretical Paradigm to Understand Learning from Human Preferences",
    arxiv="2310.12036",
    equation="Eq. 17",
    data="pairwise",
    logp="mean",
    requires=REF + ("lengths",),
    params={"beta": Param(0.1, "regularization tau; the target margin is 1/(2 beta)", "(0, inf)")},
)
def ipo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """IPO: squared regression of the log-ratio margin onto 1/(2 beta), per-token averaged.

    Azar et al., arXiv 2310.12036, Eq. 17, as TRL ``loss_type="ipo"`` computes it: log-probs are
    **averaged per token** (the choice TRL made with the IPO authors; trl #1677). ``ipo_sum`` keeps the
    paper's summed form.

        loss = (rho_avg - 1/(2 beta))^2,   rho_avg = rho_w/|y_w| - rho_l/|y_l|
    """
    rho_w, rho_l = pair_logratios(batch, average=True)
    losses = (rho_w - rho_l - 1 / (2 * beta)) ** 2
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "ipo_sum",
    paper="A General Theoretical Paradigm to Understand Learning from Human Preferences",
    arxiv="2310.12036",
    equation="Eq. 17",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": Param(0.1, "regularization tau; the target margin is 1/(2 beta)", "(0, inf)")},
)
def ipo_sum(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """IPO as the paper writes it: squared regression of the summed log-ratio margin onto 1/(2 beta).

    Azar et al., arXiv 2310.12036, Eq. 17. Summed log-probs (see ``ipo`` for TRL's averaged form).

        loss = (rho - 1/(2 beta))^2
    """
    rho_w, rho_l = pair_logratios(batch)
    losses = (rho_w - rho_l - 1 / (2 * beta)) ** 2
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "hinge",
    aliases=("slic",),
    paper="SLiC-HF: Sequence Likelihood Calibration with Human Feedback",
    arxiv="2305.10425",
    equation="Sec. 2 (calibration hinge), reference-normalized as RSO (arXiv 2309.06657) and TRL",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA},
)
def hinge(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """SLiC's calibration hinge on the reference-normalized margin; TRL ``loss_type="hinge"``.

    Zhao et al. (SLiC-HF), arXiv 2305.10425, Sec. 2, with the likelihoods normalized by the reference as
    RSO (arXiv 2309.06657, hinge-norm) proposes and TRL implements. Summed log-probs. The margin delta of
    SLiC is 1/beta here.

        loss = relu(1 - beta * rho)
    """
    rho_w, rho_l = pair_logratios(batch)
    losses = F.relu(1 - beta * (rho_w - rho_l))
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "exo_pair",
    aliases=("exo",),
    paper="Towards Efficient Exact Optimization of Language Model Alignment",
    arxiv="2402.00856",
    equation="Eq. 16",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA,
            "label_smoothing": Param(1e-3, "eps of the smoothed target distribution; must be > 0", "(0, 0.5)")},
)
def exo_pair(batch: ScoreBatch, *, beta: float, label_smoothing: float) -> ObjectiveOutput:
    """EXO, pairwise: reverse KL from the model's pair distribution to the eps-smoothed label.

    Ji et al., arXiv 2402.00856, Eq. 16; TRL ``loss_type="exo_pair"``. Summed log-probs.

        loss = sig(z) (logsig(z) - log(1 - eps)) + sig(-z) (logsig(-z) - log eps),   z = beta * rho
    """
    eps = label_smoothing
    rho_w, rho_l = pair_logratios(batch)
    z = beta * (rho_w - rho_l)
    losses = torch.sigmoid(z) * (F.logsigmoid(z) - math.log(1 - eps)) + torch.sigmoid(-z) * (
        F.logsigmoid(-z) - math.log(eps)
    )
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "nca_pair",
    aliases=("nca",),
    paper="Noise Contrastive Alignment of Language Models with Explicit Rewards",
    arxiv="2402.05369",
    equation="Sec. 4.1 (NCA with K = 2)",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA},
)
def nca_pair(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """NCA on pairs: raise the chosen response's absolute implicit reward, lower both relative ones.

    Chen et al., arXiv 2402.05369, Sec. 4.1 with K = 2; TRL ``loss_type="nca_pair"``. Summed log-probs.

        loss = -logsig(r_w) - 0.5 logsig(-r_w) - 0.5 logsig(-r_l),   r = beta * rho per response
    """
    rho_w, rho_l = pair_logratios(batch)
    r_w, r_l = beta * rho_w, beta * rho_l
    losses = -F.logsigmoid(r_w) - 0.5 * F.logsigmoid(-r_w) - 0.5 * F.logsigmoid(-r_l)
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "bco_pair",
    paper="Binary Classifier Optimization for Large Language Model Alignment",
    arxiv="2404.04656",
    equation="Sec. 4 (BCO) on pairs, without the reward shift (TRL v1)",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA},
)
def bco_pair(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """BCO on pairs: each response classified alone, chosen as desirable and rejected as undesirable.

    Jung et al., arXiv 2404.04656, Sec. 4, applied to the two halves of each pair, as TRL's current
    ``loss_type="bco_pair"`` does (older TRL subtracted a running mean reward delta; that form is the
    unpaired ``bco`` here, so this name never changes its mathematics). Summed log-probs.

        loss = -logsig(r_w) - logsig(-r_l),   r = beta * rho per response
    """
    rho_w, rho_l = pair_logratios(batch)
    losses = -F.logsigmoid(beta * rho_w) - F.logsigmoid(-beta * rho_l)
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "apo_zero",
    paper="Anchored Preference Optimization and Contrastive Revisions",
    arxiv="2408.06266",
    equation="Eq. 7 (APO-zero), as TRL cites it",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA},
)
def apo_zero(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """APO-zero: push the chosen likelihood up and the rejected one down, each against the anchor.

    D'Oosterlinck et al., arXiv 2408.06266, Eq. 7; TRL ``loss_type="apo_zero"``. Summed log-probs. For
    chosen responses better than the model's own outputs.

        loss = (1 - sig(beta * rho_w)) + sig(beta * rho_l)
    """
    rho_w, rho_l = pair_logratios(batch)
    losses = (1 - torch.sigmoid(beta * rho_w)) + torch.sigmoid(beta * rho_l)
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "apo_down",
    paper="Anchored Preference Optimization and Contrastive Revisions",
    arxiv="2408.06266",
    equation="Eq. 8 (APO-down), as TRL cites it",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA},
)
def apo_down(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """APO-down: lower both likelihoods, the rejected one more; for chosen responses worse than the model.

    D'Oosterlinck et al., arXiv 2408.06266, Eq. 8; TRL ``loss_type="apo_down"``. Summed log-probs.

        loss = sig(beta * rho_w) + (1 - sig(beta * (rho_w - rho_l)))
    """
    rho_w, rho_l = pair_logratios(batch)
    losses = torch.sigmoid(beta * rho_w) + (1 - torch.sigmoid(beta * (rho_w - rho_l)))
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "sppo_hard",
    paper="Self-Play Preference Optimization for Language Model Alignment",
    arxiv="2405.00675",
    equation="Eq. 4.7 with hard win rates P_w = 1, P_l = 0",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": Param(0.1, "eta^-1 of SPPO: the targets are +-1/(2 beta)", "(0, inf)")},
)
def sppo_hard(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """SPPO with hard labels: regress each log-ratio onto +1/(2 beta) (chosen) or -1/(2 beta) (rejected).

    Wu et al., arXiv 2405.00675, Eq. 4.7 with the win probabilities replaced by the labels 1 and 0; TRL
    ``loss_type="sppo_hard"`` (no factor 1/2, as TRL). Summed log-probs. ``sppo`` takes soft win rates.

        loss = (rho_w - 1/(2 beta))^2 + (rho_l + 1/(2 beta))^2
    """
    rho_w, rho_l = pair_logratios(batch)
    losses = (rho_w - 0.5 / beta) ** 2 + (rho_l + 0.5 / beta) ** 2
    return _output(batch, losses, rho_w, rho_l, beta)


@register(
    "rpo",
    paper="Iterative Reasoning Preference Optimization",
    arxiv="2404.19733",
    equation="the DPO + NLL loss (L_DPO+NLL), as TRL's rpo_alpha",
    data="pairwise",
    logp="sum",
    requires=REF + ("lengths",),
    params={"beta": BETA, "alpha": Param(1.0, "weight of the length-normalized NLL of the chosen response", "[0, inf)")},
)
def rpo(batch: ScoreBatch, *, beta: float, alpha: float) -> ObjectiveOutput:
    """RPO: DPO plus the negative log-likelihood of the chosen response, normalized by its length.

    Pang et al., arXiv 2404.19733 (the L_DPO+NLL loss); TRL's ``rpo_alpha``. DPO term on summed log-probs, NLL term
    per-token averaged per example (TRL averages over all chosen tokens of the batch instead, which
    weights long responses more; the paper's form is used here).

        loss = -logsig(beta * rho) - alpha * log pi_theta(y_w) / |y_w|
    """
    rho_w, rho_l = pair_logratios(batch)
    avg_w, _ = pair_logps(batch, average=True)
    losses = -F.logsigmoid(beta * (rho_w - rho_l)) - alpha * avg_w
    out = _output(batch, losses, rho_w, rho_l, beta)
    out.metrics["nll_loss"] = (-avg_w).detach().mean()
    return out


@register(
    "sft",
    aliases=("nll",),
    paper="Training language models to follow instructions with human feedback (SFT term)",
    arxiv="2203.02155",
    equation="supervised fine-tuning (token-level NLL), as TRL loss_type='sft'",
    data="pairwise",
    logp="mean",
    requires=("lengths",),
)
def sft(batch: ScoreBatch) -> ObjectiveOutput:
    """SFT: the per-token negative log-likelihood of the chosen response; TRL ``loss_type="sft"``.

    Ouyang et al., arXiv 2203.02155 (the SFT stage). Per-token averaged log-probs. Composes with any pairwise
    objective (``"dpo + sft"``).

        loss = -log pi_theta(y_w) / |y_w|
    """
    avg_w, avg_l = pair_logps(batch, average=True)
    losses = -avg_w
    return ObjectiveOutput(losses.mean(), losses, {"nll_loss": losses.detach().mean(),
                                                   "logps/chosen": avg_w.detach().mean(),
                                                   "logps/rejected": avg_l.detach().mean()})


@register(
    "h_dpo",
    paper="Entropy Controllable Direct Preference Optimization",
    arxiv="2411.07595",
    equation="the H-DPO loss (DPO with the policy's entropy weighted by alpha)",
    data="pairwise",
    logp="sum",
    requires=REF,
    params={"beta": BETA,
            "alpha": Param(0.9, "entropy weight alpha: 1 is DPO, < 1 sharpens (mode-seeking), > 1 diversifies "
                                "(0.9 is our default; the paper reports alpha < 1 helping accuracy)", "(0, inf)")},
)
def h_dpo(batch: ScoreBatch, *, beta: float, alpha: float) -> ObjectiveOutput:
    """H-DPO: DPO whose KL regularizer has the policy entropy scaled by alpha, so the optimum is
    pi* ∝ pi_ref^(1/alpha) exp(r / (alpha beta)), sharper than DPO's for alpha < 1.

    Omura et al., arXiv 2411.07595 (the H-DPO loss, derived here from its objective). Summed log-probs. With h_M = L_M(y_w) - L_M(y_l):

        loss = -logsig(alpha beta h_theta - beta h_ref)

    alpha = 1 is ``dpo``. The implicit reward logged is alpha beta L_theta - beta L_ref.
    """
    logp_w, logp_l = chosen_rejected(batch, batch.policy_logps)
    ref_w, ref_l = chosen_rejected(batch, batch.ref_logps)
    r_w, r_l = alpha * beta * logp_w - beta * ref_w, alpha * beta * logp_l - beta * ref_l
    losses = -F.logsigmoid(r_w - r_l)
    return ObjectiveOutput(losses.mean(), losses, reward_metrics(batch, r_w, r_l))
