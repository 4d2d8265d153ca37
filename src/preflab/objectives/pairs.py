"""Reading a pair out of a ScoreBatch, and the metrics every pairwise objective reports.

The chosen response is the slot with rank 0 (slot 0 when ``ranks`` is None); the rejected one is the
other slot. Everything here is shape plumbing: no objective's mathematics lives in this file.

>>> import torch
>>> from preflab.objectives.batch import ScoreBatch
>>> b = ScoreBatch(policy_logps=torch.tensor([[-1.0, -2.0], [-3.0, -4.0]]), ranks=torch.tensor([[0, 1], [1, 0]]))
>>> chosen_rejected(b, b.policy_logps)
(tensor([-1., -4.]), tensor([-2., -3.]))
"""

from __future__ import annotations

import torch
from torch import Tensor

from .batch import ScoreBatch

__all__ = ["chosen_rejected", "pair_logratios", "pair_logps", "reward_metrics", "mean_logps"]


def chosen_rejected(batch: ScoreBatch, values: Tensor) -> tuple[Tensor, Tensor]:
    """Split ``values`` [B, 2, ...] into (chosen [B, ...], rejected [B, ...]) by ``batch.ranks``."""
    first, second = values[:, 0], values[:, 1]
    if batch.ranks is None:
        return first, second
    swap = (batch.ranks[:, 0] > batch.ranks[:, 1]).view(-1, *([1] * (values.dim() - 2)))
    return torch.where(swap, second, first), torch.where(swap, first, second)


def mean_logps(batch: ScoreBatch, logps: Tensor) -> Tensor:
    """Summed log-probs [B, K] divided by the completion lengths: the per-token average."""
    return logps / batch.lengths.clamp(min=1).to(logps.dtype)


def pair_logps(batch: ScoreBatch, average: bool = False) -> tuple[Tensor, Tensor]:
    """Policy log-probs of (chosen, rejected), summed or averaged per token."""
    logps = mean_logps(batch, batch.policy_logps) if average else batch.policy_logps
    return chosen_rejected(batch, logps)


def pair_logratios(batch: ScoreBatch, average: bool = False) -> tuple[Tensor, Tensor]:
    """``log pi_theta / pi_ref`` of (chosen, rejected), summed or averaged per token."""
    return chosen_rejected(batch, batch.logratios(average=average))


def reward_metrics(batch: ScoreBatch, chosen_rewards: Tensor, rejected_rewards: Tensor) -> dict:
    """TRL's metric names: implicit rewards, their margin and accuracy, and the policy's log-probs."""
    chosen_rewards, rejected_rewards = chosen_rewards.detach(), rejected_rewards.detach()
    chosen_logps, rejected_logps = chosen_rejected(batch, batch.policy_logps.detach())
    return {
        "rewards/chosen": chosen_rewards.mean(),
        "rewards/rejected": rejected_rewards.mean(),
        "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).to(chosen_rewards.dtype).mean(),
        "logps/chosen": chosen_logps.mean(),
        "logps/rejected": rejected_logps.mean(),
    }
