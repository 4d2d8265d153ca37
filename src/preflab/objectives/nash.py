"""Nash and game-theoretic objectives: regressions of log-ratio margins onto win-rate targets.

These are trained on responses sampled from the current policy (``data="online"``) and labelled by a
preference oracle. Notation: ``L_M(y)`` is model M's log-probability of y, ``h_M = L_M(y_w) - L_M(y_l)``;
the previous iterate pi_t and other opponents come in ``opponent_logps`` [B, K, M]; the win rate of a
response against the sampling policy, ``P(y > pi_t)``, is estimated from ``prefs`` (mean over the
prompt's responses, self term 1/2 included, as SPPO's code) or given directly in ``rewards``.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> b = ScoreBatch(policy_logps=torch.tensor([[-10.0, -12.0]]), ref_logps=torch.tensor([[-11.0, -11.0]]),
...                opponent_logps=torch.tensor([[[-10.5], [-11.5]]]))
>>> # INPO: h = 2 - (1/3) * 0 - (2/3) * 1, target 1/(2 eta) = 1
>>> round(get_objective("inpo", eta=0.5, tau=0.5 / 3)(b).loss.item(), 6)
0.111111
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .batch import BatchError, ObjectiveOutput, ScoreBatch
from .pairs import chosen_rejected, mean_logps, reward_metrics
from .registry import Param, register
from .signals import win_rates_from_prefs

_WIN_RATES = (("prefs", "rewards"),)


def win_rates(batch: ScoreBatch, name: str) -> Tensor:
    """P(y_k beats the sampling policy) per slot [B, K]: the masked row mean of ``prefs`` with the self
    term set to 1/2, or ``rewards`` read as win probabilities when ``prefs`` is absent."""
    mask = batch.slot_mask()
    if batch.prefs is not None:
        return win_rates_from_prefs(batch.prefs, mask)
    rates = batch.rewards
    if ((rates[mask] < 0) | (rates[mask] > 1)).any():
        raise BatchError(f"{name} reads ScoreBatch.rewards as win probabilities and needs them in [0, 1]; "
                         "pass prefs instead to estimate win rates from pairwise preferences")
    return rates


def _pair_margins(batch: ScoreBatch, average: bool) -> tuple[Tensor, Tensor, Tensor]:
    """h for the policy, the reference and each opponent: [B], [B], [B, M] (summed or per-token averaged)."""
    if average and batch.lengths is None:
        raise BatchError("average_logps=True needs ScoreBatch.lengths (completion token counts)")

    def scale(x):
        if not average:
            return x
        lengths = batch.lengths.clamp(min=1).to(x.dtype)
        return x / (lengths if x.dim() == 2 else lengths[..., None])

    def margin(x):
        w, l = chosen_rejected(batch, scale(x))
        return w - l

    return margin(batch.policy_logps), margin(batch.ref_logps), margin(batch.opponent_logps)


def _regression_output(batch, losses, h_policy, h_ref, beta_log, average) -> ObjectiveOutput:
    logps = mean_logps(batch, batch.policy_logps) if average else batch.policy_logps
    refs = mean_logps(batch, batch.ref_logps) if average else batch.ref_logps
    rho_w, rho_l = chosen_rejected(batch, logps - refs)
    metrics = reward_metrics(batch, beta_log * rho_w, beta_log * rho_l)
    metrics["margin/policy_minus_ref"] = (h_policy - h_ref).detach().mean()
    return ObjectiveOutput(losses.mean(), losses, metrics)


def _tau_le_eta(hp: dict):
    if hp["tau"] > hp["eta"]:
        return f"tau={hp['tau']} must not exceed eta={hp['eta']} (the reference weight tau/eta is at most 1)"
    return None


@register(
    "inpo",
    paper="Iterative Nash Policy Optimization: Aligning LLMs with General Preferences via No-Regret Learning",
    arxiv="2407.00617",
    equation="Eq. 8",
    data="online",
    logp="sum",
    pair=True,
    requires=("ref_logps", "opponent_logps"),
    params={
        "eta": Param(0.005, "inverse step size eta (KL weight toward pi_t); the target is 1/(2 eta)", "(0, inf)"),
        "tau": Param(0.005 / 3, "KL weight toward the reference tau (paper: eta / 3)", "(0, inf)"),
        "average_logps": Param(False, "divide log-probs by lengths (the MNPO code's scale)"),
        "beta": Param(10.0, "scale of the logged implicit rewards only", "(0, inf)"),
    },
    param_check=_tau_le_eta,
)
def inpo(batch: ScoreBatch, *, eta: float, tau: float, average_logps: bool, beta: float) -> ObjectiveOutput:
    """INPO: regress the margin, measured against a geometric mix of pi_ref and pi_t, onto 1/(2 eta).

    Zhang et al., arXiv 2407.00617, Eq. 8. pi_t is ``opponent_logps[..., 0]``. Summed log-probs as the
    paper writes it (``average_logps=True`` gives the MNPO code's per-token scale, under which ``mnpo``
    with one opponent equals this loss).

        h = h_theta - (tau/eta) h_ref - (1 - tau/eta) h_{pi_t},   loss = (h - 1/(2 eta))^2
    """
    if batch.opponent_logps.shape[-1] != 1:
        raise BatchError(f"inpo plays against one opponent (pi_t) and needs opponent_logps [B, K, 1], got "
                         f"M={batch.opponent_logps.shape[-1]}; use mnpo for several")
    h_pol, h_ref, h_opp = _pair_margins(batch, average_logps)
    c = tau / eta
    h = h_pol - c * h_ref - (1 - c) * h_opp[:, 0]
    losses = (h - 1 / (2 * eta)) ** 2
    return _regression_output(batch, losses, h_pol, h_ref, beta, average_logps)


@register(
    "mnpo",
    paper="Multiplayer Nash Preference Optimization",
    arxiv="2509.23102",
    equation="Eq. 13-15 (v1), as mnpo_scripts/mnpo_trainer.py computes it",
    data="online",
    logp="mean",
    pair=True,
    requires=("ref_logps", "opponent_logps", "lengths"),
    params={
        "eta": Param(0.0075, "step size eta; the target margin is 1/(2 eta)", "(0, inf)"),
        "ratio": Param(1 / 3, "r: weight of the reference against the opponents", "[0, 1]"),
        "weights": Param(None, "weights w_j of the M opponents (normalized to lambda_j); None is uniform", kind=list),
        "average_logps": Param(True, "divide log-probs by lengths, as the released code does"),
        "beta": Param(10.0, "scale of the logged implicit rewards only (as the code)", "(0, inf)"),
    },
)
def mnpo(batch: ScoreBatch, *, eta: float, ratio: float, weights, average_logps: bool, beta: float) -> ObjectiveOutput:
    """MNPO: the margin against the reference and a weighted population of opponents, regressed onto 1/(2 eta).

    Multiplayer Nash Preference Optimization, arXiv 2509.23102, Eq. 13-15 (v1), following the released
    code (``smiles724/MNPO``, ``mnpo_trainer.py``): **per-token averaged** log-probs, opponents in
    ``opponent_logps`` [B, K, M] (past iterates for TD-MNPO, other players, or external models),
    lambda_j = w_j / sum_k w_k. The code's YAML history weights are silently ignored by a field-name bug,
    so the released runs used uniform weights: ``weights=None`` here.

        logits = h_theta - r h_ref - (1 - r) sum_j lambda_j h_{pi_j},   loss = (logits - 1/(2 eta))^2

    With one opponent, weight 1, r = tau/eta and averaged log-probs this is ``inpo``.
    """
    h_pol, h_ref, h_opp = _pair_margins(batch, average_logps)
    M = h_opp.shape[-1]
    if weights is None:
        lam = torch.full((M,), 1.0 / M, dtype=h_opp.dtype, device=h_opp.device)
    else:
        if len(weights) != M:
            raise BatchError(f"mnpo: {len(weights)} opponent weights for M={M} opponents in opponent_logps")
        w = torch.tensor(weights, dtype=h_opp.dtype, device=h_opp.device)
        if (w < 0).any() or w.sum() <= 0:
            raise BatchError(f"mnpo: opponent weights must be >= 0 with a positive sum, got {list(weights)}")
        lam = w / w.sum()
    logits = h_pol - ratio * h_ref - (1 - ratio) * (h_opp * lam).sum(-1)
    losses = (logits - 1 / (2 * eta)) ** 2
    return _regression_output(batch, losses, h_pol, h_ref, beta, average_logps)


@register(
    "sppo",
    paper="Self-Play Preference Optimization for Language Model Alignment",
    arxiv="2405.00675",
    equation="Eq. 4.7 (uclaml/SPPO sppo/trainer.py)",
    data="online",
    logp="sum",
    requires=("ref_logps",) + _WIN_RATES,
    params={"beta": Param(0.001, "eta^-1: targets are (P - 1/2) / beta (the SPPO scripts use 0.001)", "(0, inf)")},
)
def sppo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """SPPO: regress each response's log-ratio to pi_t onto its centred win rate against pi_t.

    Wu et al., arXiv 2405.00675, Eq. 4.7, as ``uclaml/SPPO`` computes it: summed log-probs; the
    reference is the policy at the start of the iteration (pi_t) in ``ref_logps``; P_k = P(y_k > pi_t)
    from ``prefs`` (row mean over the K samples, self term 1/2 included) or from ``rewards`` in [0, 1].
    Works on any K; with a pair it is the code's ``(loss_w + loss_l) / 2``.

        loss = mean_k (rho_k - (P_k - 1/2) / beta)^2,   rho_k = L_theta(y_k) - L_{pi_t}(y_k)
    """
    mask = batch.slot_mask()
    rho = batch.logratios()
    target = (win_rates(batch, "sppo") - 0.5) / beta
    sq = torch.where(mask, (rho - target) ** 2, torch.zeros_like(rho))
    losses = sq.sum(1) / mask.sum(1)
    metrics = {"rewards/mean": (beta * rho).detach()[mask].mean(), "win_rate/mean": (target * beta + 0.5).detach()[mask].mean()}
    return ObjectiveOutput(losses.mean(), losses, metrics)


@register(
    "dno",
    paper="Direct Nash Optimization: Teaching Language Models to Self-Improve with General Preferences",
    arxiv="2404.03715",
    equation="Eq. 8 (Algorithm 1, soft targets); Eq. 13 (DNO-Prct) with hard=True",
    data="online",
    logp="sum",
    requires=("opponent_logps",) + _WIN_RATES,
    params={
        "beta": Param(0.1, "eta of DNO: scale of the log-ratio to pi_t", "(0, inf)"),
        "hard": Param(False, "DNO-Prct: hard labels on pairs whose win-rate gap exceeds margin"),
        "margin": Param(0.0, "with hard=True, keep only pairs with |r_i - r_j| > margin", "[0, 1)"),
    },
)
def dno(batch: ScoreBatch, *, beta: float, hard: bool, margin: float) -> ObjectiveOutput:
    """DNO: contrastive regression of log-ratios to pi_t onto win-rate differences, over all pairs of samples.

    Rosset et al., arXiv 2404.03715, Eq. 8 (Algorithm 1). Summed log-probs. DNO regularizes toward the
    previous iterate only: pi_t is ``opponent_logps[..., 0]`` (there is no pi_ref). r_k = P(y_k > pi_t)
    as in ``sppo``. Over every pair i < j of a prompt's responses:

        d_ij = beta ((L_theta(y_i) - L_t(y_i)) - (L_theta(y_j) - L_t(y_j)))
        loss = mean_{i<j} -[sig(r_i - r_j) logsig(d_ij) + sig(r_j - r_i) logsig(-d_ij)]

    ``hard=True`` is DNO-Prct (Eq. 13): the label is 1[r_i > r_j] and only pairs with |r_i - r_j| >
    ``margin`` count (a prompt with none contributes 0).
    """
    mask = batch.slot_mask()
    rates = win_rates(batch, "dno")
    a = beta * (batch.policy_logps - batch.opponent_logps[..., 0])
    d = a[:, :, None] - a[:, None, :]                       # [B, K, K]
    gap = rates[:, :, None] - rates[:, None, :]
    upper = torch.triu(torch.ones(batch.K, batch.K, dtype=torch.bool, device=d.device), diagonal=1)
    keep = upper & mask[:, :, None] & mask[:, None, :]
    if hard:
        keep = keep & (gap.abs() > margin)
        target = (gap > 0).to(d.dtype)
    else:
        target = torch.sigmoid(gap)
    pair_loss = -(target * F.logsigmoid(d) + (1 - target) * F.logsigmoid(-d))
    pair_loss = torch.where(keep, pair_loss, torch.zeros_like(pair_loss))
    count = keep.sum((1, 2))
    losses = pair_loss.sum((1, 2)) / count.clamp(min=1)
    metrics = {"pairs/kept": count.to(d.dtype).mean(), "rewards/mean": (a.detach())[mask].mean()}
    return ObjectiveOutput(losses.mean(), losses, metrics)


@register(
    "online_ipo",
    paper="Human Alignment of Large Language Models through Online Preference Optimisation",
    arxiv="2403.08635",
    equation="the online IPO loss, soft preference target",
    data="online",
    logp="sum",
    pair=True,
    requires=("ref_logps", "prefs"),
    params={"beta": Param(0.1, "tau of IPO: the target is (p - 1/2) / beta", "(0, inf)")},
)
def online_ipo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """Online IPO: two samples from the policy, their log-ratio margin regressed onto the judged preference.

    Calandriello et al., arXiv 2403.08635 (online IPO, equivalent to IPO-MD / Nash-MD forms). Summed
    log-probs. Slots 0 and 1 are y, y' ~ pi_theta; p = ``prefs[:, 0, 1]`` = P(y > y'):

        loss = (rho_0 - rho_1 - (p - 1/2) / beta)^2

    With p = 1 this is ``ipo_sum``.
    """
    rho = batch.logratios()
    p = batch.prefs[:, 0, 1]
    losses = (rho[:, 0] - rho[:, 1] - (p - 0.5) / beta) ** 2
    return ObjectiveOutput(losses.mean(), losses, {"rewards/margins": (beta * (rho[:, 0] - rho[:, 1])).detach().mean(),
                                                   "prefs/mean": p.detach().mean()})


@register(
    "egpo",
    paper="Extragradient Preference Optimization (EGPO): Beyond Last-Iterate Convergence for Nash Learning from Human Feedback",
    arxiv="2503.08942",
    equation="the online-IPO form of the extragradient update, as zhourunlong/EGPO lms/trainers/extragradient_trainer.py",
    data="online",
    logp="sum",
    requires=("ref_logps", "prefs"),
    params={"beta": Param(0.1, "KL weight; the target is (P(y > y'') - P(y' > y'')) / beta", "(0, inf)")},
)
def egpo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """EGPO's regression: the margin of y over y' onto their win-rate difference against fresh samples y''.

    Zhou, Fazel and Du, arXiv 2503.08942 (the online-IPO form of EGPO), following ``zhourunlong/EGPO``
    ``extragradient_trainer.py``. Summed log-probs.
    Slots 0 and 1 hold y and y'; slots 2.. hold samples y'' ~ pi_theta (their mean win rates are used);
    with K = 2 the opponent is y' itself, so the target is (P(y > y') - 1/2) / beta: online IPO.
    The extragradient step itself is an optimizer rule (``preflab.online``), not part of the loss.

        loss = (rho_0 - rho_1 - (P(y > y'') - P(y' > y'')) / beta)^2
    """
    if batch.K < 2 or not batch.slot_mask()[:, :2].all():
        raise BatchError("egpo needs slots 0 and 1 (y and y') present in every prompt, K >= 2")
    rho = batch.logratios()
    if batch.K == 2:
        p0, p1 = batch.prefs[:, 0, 1], torch.full_like(batch.prefs[:, 0, 1], 0.5)
    else:
        opp = batch.slot_mask()[:, 2:].to(rho.dtype)
        if (opp.sum(1) == 0).any():
            raise BatchError("egpo: a prompt with K > 2 slots has no opponent sample y'' present in slots 2..")
        p0 = (batch.prefs[:, 0, 2:] * opp).sum(1) / opp.sum(1)
        p1 = (batch.prefs[:, 1, 2:] * opp).sum(1) / opp.sum(1)
    losses = (rho[:, 0] - rho[:, 1] - (p0 - p1) / beta) ** 2
    return ObjectiveOutput(losses.mean(), losses, {"rewards/margins": (beta * (rho[:, 0] - rho[:, 1])).detach().mean(),
                                                   "prefs/diff": (p0 - p1).detach().mean()})


@register(
    "nash_md",
    paper="Nash Learning from Human Feedback",
    arxiv="2312.00886",
    equation="Nash-MD-PG, as TRL nash_md_trainer.py",
    data="online",
    logp="sum",
    pair=True,
    requires=("token_logps", "ref_token_logps", "prefs"),
    params={"beta": Param(0.1, "KL regularization toward the reference", "(0, inf)")},
)
def nash_md(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """Nash-MD policy gradient: REINFORCE on the judged preference of y ~ pi_theta over y' ~ the mixture.

    Munos et al., arXiv 2312.00886 (Nash-MD-PG), in TRL's ``NashMDTrainer`` form. Summed per-token log-probs of
    slot 0 (y ~ pi_theta); slot 1 holds y' from the geometric mixture pi_theta^(1-m) pi_ref^m and only
    enters through p = ``prefs[:, 0, 1]``. The KL term is TRL's per-token estimator:

        loss = beta sum_t sg(log pi_theta(y_t) - log pi_ref(y_t)) log pi_theta(y_t) - (p - 1/2) sum_t log pi_theta(y_t)
    """
    tmask = batch.token_mask[:, 0] if batch.token_mask is not None else torch.ones_like(batch.token_logps[:, 0], dtype=torch.bool)
    zero = torch.zeros_like(batch.token_logps[:, 0])
    logp = torch.where(tmask, batch.token_logps[:, 0], zero)
    log_ratio = torch.where(tmask, batch.token_logps[:, 0] - batch.ref_token_logps[:, 0], zero).detach()
    p = batch.prefs[:, 0, 1]
    kl_term = (log_ratio * logp).sum(-1)
    score = (p - 0.5) * logp.sum(-1)
    losses = beta * kl_term - score
    return ObjectiveOutput(losses.mean(), losses, {"kl": log_ratio.sum(-1).mean(), "prefs/mean": p.detach().mean()})
