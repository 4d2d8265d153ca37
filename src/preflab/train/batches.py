"""From tokenized examples and log-probs to the ScoreBatch an objective reads.

The data's signals (ranks, scores, labels) and every model's log-probs are laid out [B, K(, T)] in the
policy's slot order; absent slots of ragged lists are masked.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from preflab.engine import LogProbs
from preflab.objectives import ScoreBatch

__all__ = ["signals", "score_batch"]


def signals(examples: Sequence, K: int, device=None) -> dict:
    """``ranks``, ``rewards`` (listwise scores), ``labels`` [B, K] and ``prefs`` [B, K, K] of the examples, when
    they carry them. Absent slots get the worst rank, a zero score, label +1 and preference 1/2 (all masked
    out downstream)."""
    B = len(examples)
    out = {}
    if any(e.ranks is not None for e in examples):
        ranks = torch.full((B, K), K, dtype=torch.long)
        for b, e in enumerate(examples):
            ranks[b, : len(e.ranks)] = torch.tensor(e.ranks)
        out["ranks"] = ranks
    if any(getattr(e, "scores", None) is not None for e in examples):
        rewards = torch.zeros(B, K)
        for b, e in enumerate(examples):
            rewards[b, : len(e.scores)] = torch.tensor(e.scores, dtype=torch.float32)
        out["rewards"] = rewards
    if any(getattr(e, "labels", None) is not None for e in examples):
        labels = torch.ones(B, K, dtype=torch.long)
        for b, e in enumerate(examples):
            labels[b, : len(e.labels)] = torch.tensor(e.labels)
        out["labels"] = labels
    elif K == 2 and all(e.ranks is not None and len(e.ranks) == 2 and e.ranks[0] < e.ranks[1] for e in examples):
        out["labels"] = torch.tensor([[1, -1]] * B)         # a pair: chosen desirable, rejected undesirable
    if any(getattr(e, "prefs", None) is not None for e in examples):
        prefs = torch.full((B, K, K), 0.5)
        for b, e in enumerate(examples):
            k = len(e.prefs)
            prefs[b, :k, :k] = torch.tensor(e.prefs, dtype=torch.float32)
        out["prefs"] = prefs
    return {k: v.to(device) for k, v in out.items()} if device is not None else out


def score_batch(examples: Sequence, policy: LogProbs, *, ref: Optional[LogProbs] = None,
                extra_refs: Sequence[LogProbs] = (), opponents: Sequence[LogProbs] = (),
                kl: Optional[tuple] = None, values=None) -> ScoreBatch:
    """Assemble the ScoreBatch: policy log-probs (with gradients), the fixed models' (without), signals."""
    K = policy.sums.shape[1]
    device = policy.sums.device
    fields = dict(policy_logps=policy.sums, lengths=policy.lengths,
                  mask=policy.mask if not bool(policy.mask.all()) else None, **signals(examples, K, device))
    if policy.tokens is not None or policy.sq_mass is not None:
        fields["token_mask"] = policy.token_mask
    if policy.tokens is not None:
        fields["token_logps"] = policy.tokens
    if policy.sq_mass is not None:
        fields["token_log_sq_mass"] = policy.sq_mass
    if ref is not None:
        fields["ref_logps"] = ref.sums.to(policy.sums.dtype)
        if ref.tokens is not None:
            fields["ref_token_logps"] = ref.tokens.to(policy.sums.dtype)
    if extra_refs:
        fields["extra_ref_logps"] = torch.stack([x.sums for x in extra_refs], dim=-1).to(policy.sums.dtype)
    if opponents:
        fields["opponent_logps"] = torch.stack([x.sums for x in opponents], dim=-1).to(policy.sums.dtype)
    if kl is not None:
        fields["kl_policy_logps"], fields["kl_ref_logps"] = (x.to(policy.sums.dtype) for x in kl)
    if values is not None:
        fields["values"] = values
    return ScoreBatch(**fields)
