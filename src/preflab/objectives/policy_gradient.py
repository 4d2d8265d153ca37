"""Policy-gradient objectives over K sampled responses per prompt, scored by ``rewards``.

A prompt's present responses form its group. Sequence-level objectives use summed log-probs
(``policy_logps``); token-level ones (GRPO family) use ``token_logps`` with ``token_mask``, the sampling
policy's ``old_token_logps`` for importance ratios (absent: on-policy, ratio 1 with the right gradient)
and ``ref_token_logps`` for the KL penalty when beta > 0. Advantages are constants (detached).

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> logps = torch.tensor([[-2.0, -3.0, -4.0]], requires_grad=True)
>>> b = ScoreBatch(policy_logps=logps, ref_logps=torch.tensor([[-2.0, -3.0, -4.0]]),
...                rewards=torch.tensor([[1.0, 0.0, 0.5]]))
>>> # RLOO advantages: 1 - 0.25, 0 - 0.75, 0.5 - 0.5; the gradient is -A / 3
>>> get_objective("rloo", beta=0.0)(b).loss.backward()
>>> logps.grad
tensor([[-0.2500,  0.2500,  0.0000]])
"""

from __future__ import annotations

import torch
from torch import Tensor

from .batch import BatchError, ObjectiveOutput, ScoreBatch
from .registry import Param, register

_TOKENS = ("token_logps", "rewards")


# --------------------------------------------------------------------------------------------------
# group statistics
# --------------------------------------------------------------------------------------------------


def group_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of each prompt's present values, [B, 1]."""
    m = mask.to(values.dtype)
    return (values * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)


def group_std(values: Tensor, mask: Tensor) -> Tensor:
    """Unbiased (Bessel) standard deviation of each prompt's present values, [B, 1]; 0 for a group of one."""
    m = mask.to(values.dtype)
    dev = (values - group_mean(values, mask)) * m
    return ((dev ** 2).sum(1, keepdim=True) / (m.sum(1, keepdim=True) - 1).clamp(min=1)).sqrt()


def _masked_sequences(mask: Tensor, per_seq: Tensor) -> tuple[Tensor, Tensor]:
    """(mean over all present sequences, per-prompt mean [B])."""
    m = mask.to(per_seq.dtype)
    per_seq = torch.where(mask, per_seq, torch.zeros_like(per_seq))
    return per_seq.sum() / m.sum().clamp(min=1), per_seq.sum(1) / m.sum(1).clamp(min=1)


def _token_parts(batch: ScoreBatch) -> tuple[Tensor, Tensor, Tensor]:
    """(token mask [B, K, T] restricted to present responses, log-probs, old log-probs), masked to 0."""
    tok = batch.token_logps
    tmask = batch.token_mask if batch.token_mask is not None else torch.ones_like(tok, dtype=torch.bool)
    tmask = tmask & batch.slot_mask()[:, :, None]
    old = batch.old_token_logps if batch.old_token_logps is not None else tok.detach()
    zero = torch.zeros_like(tok)
    return tmask, torch.where(tmask, tok, zero), torch.where(tmask, old, zero)


def _clipped_surrogate(logp: Tensor, old: Tensor, adv: Tensor, eps_low: float, eps_high: float) -> Tensor:
    """PPO's clipped surrogate, to minimize: -min(ratio A, clip(ratio, 1 - eps_low, 1 + eps_high) A)."""
    ratio = torch.exp(logp - old)
    return -torch.minimum(ratio * adv, ratio.clamp(1 - eps_low, 1 + eps_high) * adv)


def _token_kl(batch: ScoreBatch, tmask: Tensor, beta: float, name: str) -> Tensor:
    """The k3 estimator of KL(pi_theta || pi_ref) per token: exp(ref - logp) - (ref - logp) - 1."""
    if beta == 0:
        return torch.zeros_like(batch.token_logps)
    if batch.ref_token_logps is None:
        raise BatchError(f"{name} with beta={beta} > 0 needs ScoreBatch.ref_token_logps for its KL penalty; "
                         "pass them or set beta=0")
    diff = torch.where(tmask, batch.ref_token_logps - batch.token_logps, torch.zeros_like(batch.token_logps))
    return torch.exp(diff) - diff - 1


def _pg_metrics(batch: ScoreBatch, adv: Tensor) -> dict:
    mask = batch.slot_mask()
    return {"reward/mean": batch.rewards.detach()[mask].mean(), "advantage/mean": adv.detach()[mask].mean(),
            "reward/std": group_std(batch.rewards.detach(), mask).mean()}


_CLIP = {
    "epsilon": Param(0.2, "lower clip range of the importance ratio", "(0, 1)"),
    "epsilon_high": Param(None, "upper clip range (DAPO's clip-higher); None is epsilon", "(0, inf)", kind=float),
    "beta": Param(0.0, "weight of the k3 KL penalty toward the reference (TRL's default 0; GRPO paper 0.04)", "[0, inf)"),
}


# --------------------------------------------------------------------------------------------------
# sequence-level
# --------------------------------------------------------------------------------------------------


@register(
    "reinforce",
    paper="Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement Learning",
    arxiv="2402.14740",
    equation="REINFORCE (Williams 1992), in the LLM form of Ahmadian et al.",
    data="policy_gradient",
    logp="sum",
    requires=("rewards",),
    params={"baseline": Param(0.0, "constant baseline b subtracted from every reward", "(-inf, inf)"),
            "beta": Param(0.0, "KL penalty in the reward, r - beta (L_theta - L_ref) (needs ref_logps)", "[0, inf)")},
)
def reinforce(batch: ScoreBatch, *, baseline: float, beta: float) -> ObjectiveOutput:
    """REINFORCE: the score-function gradient of the expected (KL-shaped) reward, whole sequences as actions.

    Williams (1992); in the LLM setting of Ahmadian et al., arXiv 2402.14740. Summed
    log-probs. Advantages are detached; L_old are the sampling policy's log-probs (``old_token_logps``
    summed, else sg(L_theta)):

        A_k = r_k - beta (L_old(y_k) - L_ref(y_k)) - b,   loss = -mean_k A_k L_theta(y_k)
    """
    mask = batch.slot_mask()
    adv = _shaped_rewards(batch, beta, "reinforce") - baseline
    loss, per_example = _masked_sequences(mask, -adv * batch.policy_logps)
    return ObjectiveOutput(loss, per_example, _pg_metrics(batch, adv))


def _shaped_rewards(batch: ScoreBatch, beta: float, name: str) -> Tensor:
    """r - beta * KL(sequence), with the KL of the sampling policy (detached)."""
    if beta == 0:
        return batch.rewards.detach()
    if batch.ref_logps is None:
        raise BatchError(f"{name} with beta={beta} > 0 needs ScoreBatch.ref_logps for its KL penalty; pass them or set beta=0")
    old = _old_sequence_logps(batch)
    return (batch.rewards - beta * (old - batch.ref_logps)).detach()


def _old_sequence_logps(batch: ScoreBatch) -> Tensor:
    """Summed log-probs of the sampling policy: from ``old_token_logps`` when given, else the policy's (detached)."""
    if batch.old_token_logps is None:
        return batch.policy_logps.detach()
    tmask = batch.token_mask if batch.token_mask is not None else torch.ones_like(batch.old_token_logps, dtype=torch.bool)
    return torch.where(tmask, batch.old_token_logps, torch.zeros_like(batch.old_token_logps)).sum(-1)


@register(
    "rloo",
    paper="Back to Basics: Revisiting REINFORCE Style Optimization for Learning from Human Feedback in LLMs",
    arxiv="2402.14740",
    equation="the RLOO estimator, with TRL's clipped sequence ratio",
    data="policy_gradient",
    logp="sum",
    requires=("rewards", "ref_logps"),
    params={"beta": Param(0.05, "KL penalty in the reward (TRL's default 0.05)", "[0, inf)"),
            "epsilon": Param(0.2, "clip range of the sequence-level importance ratio", "(0, 1)")},
)
def rloo(batch: ScoreBatch, *, beta: float, epsilon: float) -> ObjectiveOutput:
    """RLOO: REINFORCE with each sample's baseline the mean reward of the prompt's other samples.

    Ahmadian et al., arXiv 2402.14740 (RLOO); TRL ``RLOOTrainer``. Summed log-probs; the KL toward the
    reference is a penalty in the reward; the ratio to the sampling policy is clipped as in TRL (it is 1
    on-policy, where this is plain RLOO). Needs >= 2 samples per prompt:

        r~_k = r_k - beta (L_old(y_k) - L_ref(y_k)),   A_k = r~_k - mean_{j != k} r~_j
        loss = -mean_k min(q_k A_k, clip(q_k, 1 - eps, 1 + eps) A_k),   q_k = exp(L_theta(y_k) - L_old(y_k))
    """
    mask = batch.slot_mask()
    n = mask.sum(1, keepdim=True)
    if (n < 2).any():
        raise BatchError("rloo needs at least 2 samples per prompt for its leave-one-out baseline")
    shaped = _shaped_rewards(batch, beta, "rloo")
    total = torch.where(mask, shaped, torch.zeros_like(shaped)).sum(1, keepdim=True)
    adv = shaped - (total - shaped) / (n - 1).to(shaped.dtype)
    per_seq = _clipped_surrogate(batch.policy_logps, _old_sequence_logps(batch), adv, epsilon, epsilon)
    loss, per_example = _masked_sequences(mask, per_seq)
    return ObjectiveOutput(loss, per_example, _pg_metrics(batch, adv))


# --------------------------------------------------------------------------------------------------
# token-level: the GRPO family
# --------------------------------------------------------------------------------------------------


def _grpo_tokens(batch: ScoreBatch, adv: Tensor, epsilon: float, epsilon_high, beta: float, name: str):
    """Per-token loss [B, K, T] (zero off the mask) and the mask."""
    tmask, logp, old = _token_parts(batch)
    high = epsilon if epsilon_high is None else epsilon_high
    per_token = _clipped_surrogate(logp, old, adv[:, :, None], epsilon, high) + beta * _token_kl(batch, tmask, beta, name)
    return torch.where(tmask, per_token, torch.zeros_like(per_token)), tmask


@register(
    "grpo",
    paper="DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models",
    arxiv="2402.03300",
    equation="Eq. 3 (GRPO), as TRL loss_type='grpo'",
    data="policy_gradient",
    logp="mean",
    requires=_TOKENS,
    params={**_CLIP, "scale_rewards": Param(True, "divide advantages by the group's reward std (+1e-4)")},
)
def grpo(batch: ScoreBatch, *, epsilon: float, epsilon_high, beta: float, scale_rewards: bool) -> ObjectiveOutput:
    """GRPO: PPO's clipped surrogate per token with group-normalized advantages and a k3 KL penalty.

    Shao et al., arXiv 2402.03300, Eq. 3; TRL ``GRPOTrainer`` with ``loss_type="grpo"``: per-token
    log-probs, each sequence's token losses averaged over its length, then sequences averaged:

        A_k = (r_k - mean(r)) / (std(r) + 1e-4)     (std unbiased, over the prompt's group)
        l_t = -min(q_t A, clip(q_t, 1 - eps, 1 + eps_high) A) + beta (exp(ref_t - logp_t) - (ref_t - logp_t) - 1)
        loss = mean_k (1/|y_k|) sum_t l_t
    """
    mask = batch.slot_mask()
    adv = batch.rewards.detach() - group_mean(batch.rewards.detach(), mask)
    if scale_rewards:
        adv = adv / (group_std(batch.rewards.detach(), mask) + 1e-4)
    per_token, tmask = _grpo_tokens(batch, adv, epsilon, epsilon_high, beta, "grpo")
    per_seq = per_token.sum(-1) / tmask.sum(-1).clamp(min=1)
    loss, per_example = _masked_sequences(mask, per_seq)
    return ObjectiveOutput(loss, per_example, _pg_metrics(batch, adv))


@register(
    "dr_grpo",
    paper="Understanding R1-Zero-Like Training: A Critical Perspective",
    arxiv="2503.20783",
    equation="the Dr. GRPO objective, as TRL loss_type='dr_grpo'",
    data="policy_gradient",
    logp="sum",
    requires=_TOKENS,
    params={**_CLIP, "max_completion_length": Param(None, "the constant normalizer L_max; None uses T, the token "
                                                           "dimension of the batch", "[1, inf)", kind=int)},
)
def dr_grpo(batch: ScoreBatch, *, epsilon: float, epsilon_high, beta: float, max_completion_length) -> ObjectiveOutput:
    """Dr. GRPO: GRPO without its two biases: no std normalization, and a constant length normalizer.

    Liu et al., arXiv 2503.20783 (Dr. GRPO); TRL ``loss_type="dr_grpo"``. Per-token log-probs, summed over each
    sequence and divided by a constant (not by the sequence's length):

        A_k = r_k - mean(r),   loss = (1 / (N L_max)) sum_k sum_t l_t    (N sequences, l_t as in grpo)
    """
    mask = batch.slot_mask()
    adv = batch.rewards.detach() - group_mean(batch.rewards.detach(), mask)
    per_token, _ = _grpo_tokens(batch, adv, epsilon, epsilon_high, beta, "dr_grpo")
    L = max_completion_length if max_completion_length is not None else batch.token_logps.shape[-1]
    loss, per_example = _masked_sequences(mask, per_token.sum(-1) / L)
    return ObjectiveOutput(loss, per_example, _pg_metrics(batch, adv))


@register(
    "gpg",
    paper="GPG: A Simple and Strong Reinforcement Learning Baseline for Model Reasoning",
    arxiv="2504.02546",
    equation="Eq. 5 (token-mean policy gradient) and Eq. 7 (alpha = B / (B - M), per group as the code)",
    data="policy_gradient",
    logp="mean",
    requires=_TOKENS,
    params={"scale_rewards": Param(False, "divide advantages by the group std (+1e-4); the paper's scripts do not"),
            "adjust_gradient": Param(True, "multiply by alpha = groups / groups with nonzero reward variance")},
)
def gpg(batch: ScoreBatch, *, scale_rewards: bool, adjust_gradient: bool) -> ObjectiveOutput:
    """GPG: the plain policy gradient with group-centred advantages: no ratio, no clipping, no KL, no critic.

    Chu et al., arXiv 2504.02546, Eq. 5 and 7, following the official trainer. Per-token log-probs,
    averaged over all completion tokens of the batch (not per sequence). Groups whose rewards are all
    equal carry no signal; alpha rescales the gradient to the informative ones: the number of groups over
    the number with nonzero reward variance, as the code computes it (the paper's B / (B - M) over
    samples, equal for equal group sizes; alpha = 1 when no group is informative):

        A_k = r_k - mean(r)   (/ (std(r) + 1e-4) with scale_rewards)
        loss = alpha * (-sum_{k,t} A_k log pi_theta(y_k,t)) / (number of completion tokens)
    """
    mask = batch.slot_mask()
    rewards = batch.rewards.detach()
    adv = rewards - group_mean(rewards, mask)
    std = group_std(rewards, mask)
    if scale_rewards:
        adv = adv / (std + 1e-4)
    tmask, logp, _ = _token_parts(batch)
    valid = (std[:, 0] > 0).to(adv.dtype)
    alpha = batch.B / valid.sum() if adjust_gradient and valid.sum() > 0 else torch.ones((), dtype=adv.dtype, device=adv.device)
    per_prompt = -(adv[:, :, None] * logp).sum((1, 2))
    n_tokens = tmask.sum().clamp(min=1)
    per_example = alpha * per_prompt * batch.B / n_tokens
    metrics = _pg_metrics(batch, adv)
    metrics["gpg/alpha"] = torch.as_tensor(alpha, dtype=adv.dtype, device=adv.device).detach()
    return ObjectiveOutput(per_example.mean(), per_example, metrics)


@register(
    "gvpo",
    paper="GVPO: Group Variance Policy Optimization for Large Language Model Post-Training",
    arxiv="2504.19599",
    equation="the GVPO loss, as the authors' verl recipe (gvpo_core_algos.py)",
    data="policy_gradient",
    logp="sum",
    requires=("rewards",),
    params={"beta": Param(0.1, "KL weight: the implicit reward is beta (L_theta - L_old)", "(0, inf)")},
)
def gvpo(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
    """GVPO: match the centred implicit rewards of a group to its centred true rewards (a weighted MSE
    whose optimum is the KL-constrained reward maximizer).

    Zhang et al., arXiv 2504.19599, following the authors' code. Summed log-probs; L_old are those of the
    sampling policy (``old_token_logps`` summed, else the detached policy); the group mean of the implicit
    rewards is detached, as the code computes it. For a group of k responses:

        R_theta = beta (L_theta(y) - L_old(y))
        loss = 1/(k - 1) sum_i 1/2 ((R_theta_i - mean(R_theta)) - (r_i - mean(r)))^2
    """
    mask = batch.slot_mask()
    n = mask.sum(1)
    if (n < 2).any():
        raise BatchError("gvpo needs at least 2 samples per prompt")
    implicit = beta * (batch.policy_logps - _old_sequence_logps(batch))
    rewards = batch.rewards.detach()
    residual = (implicit - group_mean(implicit.detach(), mask)) - (rewards - group_mean(rewards, mask))
    sq = torch.where(mask, 0.5 * residual ** 2, torch.zeros_like(residual))
    per_example = sq.sum(1) / (n - 1).to(sq.dtype)
    return ObjectiveOutput(per_example.mean(), per_example, _pg_metrics(batch, rewards - group_mean(rewards, mask)))


def beta_normalized_advantages(rewards: Tensor, mask: Tensor, r_min: float, r_max: float) -> tuple[Tensor, Tensor]:
    """BNPO's advantages (r - p) / f_Beta(p; a, b) [B, K] and the Beta parameters (a, b).

    Rewards are mapped to [0, 1]; p is each prompt's mean; a and b come from the method of moments over
    the batch's p (population variance), softened to 1 + a/3 and 1 + b/3 and clamped at >= 1, as the
    authors' code; the density is evaluated at p clipped to [1e-6, 1 - 1e-6] and its inverse capped at 1e6.
    With fewer than two distinct p in the batch the moments are undefined and a = b = 1 (no reweighting).
    """
    r = (rewards - r_min) / (r_max - r_min)
    p = group_mean(r, mask)[:, 0]
    mean, var = p.mean(), p.var(unbiased=False)
    if var > 0:
        common = mean * (1 - mean) / var - 1
        a = (1 + common * mean / 3).clamp(min=1.0)
        b = (1 + common * (1 - mean) / 3).clamp(min=1.0)
    else:
        a = b = torch.ones((), dtype=r.dtype, device=r.device)
    density = torch.distributions.Beta(a, b).log_prob(p.clamp(1e-6, 1 - 1e-6)).exp()
    weight = (1.0 / density).clamp(0, 1e6)
    return weight[:, None] * (r - p[:, None]), torch.stack([a, b])


@register(
    "bnpo",
    paper="BNPO: Beta Normalization Policy Optimization",
    arxiv="2506.02864",
    equation="the Beta-normalized advantage, as the authors' code (changyi7231/BNPO)",
    data="policy_gradient",
    logp="mean",
    requires=_TOKENS,
    params={**_CLIP,
            "reward_min": Param(0.0, "reward mapped to 0 (binary rewards: 0)", "(-inf, inf)"),
            "reward_max": Param(1.0, "reward mapped to 1 (binary rewards: 1)", "(-inf, inf)")},
    param_check=lambda hp: None if hp["reward_max"] > hp["reward_min"] else "reward_max must exceed reward_min",
)
def bnpo(batch: ScoreBatch, *, epsilon: float, epsilon_high, beta: float, reward_min: float, reward_max: float) -> ObjectiveOutput:
    """BNPO: GRPO's clipped surrogate with advantages normalized by a Beta density fitted to the batch's
    per-prompt success rates, instead of the group std.

    Xiao et al., arXiv 2506.02864, following ``changyi7231/BNPO`` (not TRL's ``loss_type="bnpo"``, which
    is only a token normalization). Per-token log-probs, the token losses averaged over all tokens of the
    batch (verl's "token-mean"):

        A_k = (r_k - p) / f_Beta(p; a, b),   p = mean(r) of the prompt,   (a, b) from the batch (see
        ``beta_normalized_advantages``);   l_t as in grpo;   loss = sum_{k,t} l_t / (number of tokens)
    """
    mask = batch.slot_mask()
    if ((batch.rewards[mask] < reward_min) | (batch.rewards[mask] > reward_max)).any():
        raise BatchError(f"bnpo: rewards must lie in [reward_min, reward_max] = [{reward_min}, {reward_max}]")
    adv, ab = beta_normalized_advantages(batch.rewards.detach(), mask, reward_min, reward_max)
    per_token, tmask = _grpo_tokens(batch, adv, epsilon, epsilon_high, beta, "bnpo")
    per_example = per_token.sum((1, 2)) * batch.B / tmask.sum().clamp(min=1)
    metrics = _pg_metrics(batch, adv)
    metrics.update({"bnpo/a": ab[0], "bnpo/b": ab[1]})
    return ObjectiveOutput(per_example.mean(), per_example, metrics)
