"""Preference signals turned into regression targets: each response's win rate within its prompt.

>>> import torch
>>> prefs = torch.tensor([[[0.5, 0.8, 0.6], [0.2, 0.5, 0.4], [0.4, 0.6, 0.5]]])
>>> win_rates_from_prefs(prefs, torch.tensor([[True, True, False]]))   # the third slot is absent: 0
tensor([[0.6500, 0.3500, 0.0000]])
"""

from __future__ import annotations

import torch
from torch import Tensor


def win_rates_from_prefs(prefs: Tensor, mask: Tensor) -> Tensor:
    """psi_k = (1/n) sum_j P(y_k > y_j) over the n present responses of a prompt, the self term set to 1/2
    (SPPO's and LiPO's estimate of P(y_k > the sampling policy)). ``prefs`` [B, K, K], ``mask`` [B, K]."""
    K = prefs.shape[-1]
    eye = torch.eye(K, dtype=torch.bool, device=prefs.device)
    prefs = torch.where(eye, torch.full_like(prefs, 0.5), prefs)
    pair_mask = (mask[:, None, :] & mask[:, :, None]).to(prefs.dtype)
    return (prefs * pair_mask).sum(-1) / pair_mask.sum(-1).clamp(min=1)


def prefs_from_ranks(ranks: Tensor, dtype: torch.dtype) -> Tensor:
    """Hard preferences [B, K, K] from ranks: 1 where y_i ranks better, 0 where worse, 1/2 for ties."""
    r = ranks.to(dtype)
    return (r[:, :, None] < r[:, None, :]).to(dtype) + 0.5 * (r[:, :, None] == r[:, None, :]).to(dtype)
