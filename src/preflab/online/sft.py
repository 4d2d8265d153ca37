"""Supervised fine-tuning of the starting policy: token-averaged negative log-likelihood of the completions,
on preflab's engine (prompt once, logits only at completion positions)."""

from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import torch

from preflab.data import PreferenceExample
from preflab.engine import logprobs_for

__all__ = ["supervised_finetune"]


def supervised_finetune(model, pairs: Sequence[Tuple[Sequence[int], Sequence[int]]], pad_id: int, *, steps: int,
                        batch_size: int = 32, lr: float = 3e-3, seed: int = 0) -> List[float]:
    """Train ``model`` in place on (prompt_ids, completion_ids) pairs with AdamW; returns the loss per step
    (mean NLL per completion token)."""
    if not pairs:
        raise ValueError("supervised_finetune needs at least one (prompt, completion) pair")
    examples = [PreferenceExample(index=i, prompt_ids=list(p), completion_ids=[list(c)], ranks=None, scores=None,
                                  labels=None) for i, (p, c) in enumerate(pairs)]
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        batch = [examples[i] for i in rng.choice(len(examples), size=min(batch_size, len(examples)), replace=False)]
        lp = logprobs_for(model, batch, pad_id)
        loss = -(lp.sums * lp.mask).sum() / lp.lengths.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses
