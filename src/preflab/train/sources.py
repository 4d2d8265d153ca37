"""Where the log-probs of fixed models come from during training: a table computed once, a frozen model
run each step, or the policy itself with its LoRA adapter switched off.

Each source answers ``logps(examples, K, T, tokens) -> LogProbs`` without gradients.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from preflab.engine import LogpTable, logprobs_for
from preflab.engine.cache import fit_dim

__all__ = ["TableSource", "ModelSource", "AdapterSource"]


class TableSource:
    """Precomputed log-probs, looked up by each example's ``index`` (no model in memory)."""

    def __init__(self, table: LogpTable, name: str = "reference"):
        self.table, self.name = table, name

    def logps(self, examples: Sequence, K: int, T: int, tokens: bool = False, device=None):
        out = self.table.lookup([e.index for e in examples], T=T if tokens else None, K=K)
        if tokens and out.tokens is None:
            raise ValueError(f"the cached {self.name} log-probs were computed without per-token values")
        return _to(out, device)


class ModelSource:
    """A frozen model run on every batch (needed when it changes, as TR-DPO's synced reference)."""

    def __init__(self, model, pad_id: int, name: str = "reference", **pack_kwargs):
        self.model, self.pad_id, self.name, self.pack_kwargs = model, pad_id, name, pack_kwargs

    @torch.no_grad()
    def logps(self, examples: Sequence, K: int, T: int, tokens: bool = False, device=None):
        out = logprobs_for(self.model, examples, self.pad_id, tokens=tokens, **self.pack_kwargs)
        return _to(_pad(out, K, T if tokens else None), device)


class AdapterSource(ModelSource):
    """The policy with its adapter disabled: the base model is the reference, no second copy in memory."""

    @torch.no_grad()
    def logps(self, examples: Sequence, K: int, T: int, tokens: bool = False, device=None):
        from preflab.models import adapter_disabled

        was_training = self.model.training
        self.model.eval()
        try:
            with adapter_disabled(self.model):
                return super().logps(examples, K, T, tokens, device)
        finally:
            self.model.train(was_training)


def _pad(lp, K: int, T: Optional[int]):
    lp.sums, lp.lengths, lp.mask = fit_dim(lp.sums, 1, K), fit_dim(lp.lengths, 1, K), fit_dim(lp.mask, 1, K)
    if T is not None and lp.tokens is not None:
        lp.tokens = fit_dim(fit_dim(lp.tokens, 1, K), 2, T)
        lp.token_mask = fit_dim(fit_dim(lp.token_mask, 1, K), 2, T)
    return lp


def _to(lp, device):
    if device is None:
        return lp
    for f, v in list(lp.__dict__.items()):
        if isinstance(v, torch.Tensor):
            setattr(lp, f, v.to(device))
    return lp
