"""Log-probabilities of a fixed model over a whole data set, computed once and kept on disk.

A reference model (or an opponent, or Pre-DPO's guide) does not change while the policy trains, so its
log-probs are computed in one no-grad pass and the model leaves memory. The table is keyed by the data
set's fingerprint and the model's, so a changed model or data never reuses a stale file.

>>> import torch
>>> t = LogpTable(sums=torch.tensor([[-1.0, -2.0], [-3.0, -4.0]]), lengths=torch.tensor([[1, 2], [1, 1]]),
...               index=torch.tensor([10, 20]))
>>> t.lookup([20, 10]).sums           # by each example's ``index`` (its row in the source data)
tensor([[-3., -4.],
        [-1., -2.]])
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import Tensor

from .logprobs import LogProbs, logprobs_for

__all__ = ["LogpTable", "precompute_logps", "model_fingerprint", "fit_dim"]

_VERSION = 2  # of the table file


@dataclass
class LogpTable:
    """Per-example log-probs: ``sums`` [N, K] and ``lengths`` [N, K]; per-token ``tokens`` [N, K, T]
    when computed with tokens (T the longest completion in the data set); ``index`` [N] the examples'
    ``index`` (their source rows), by which ``lookup`` finds them."""

    sums: Tensor
    lengths: Tensor
    index: Tensor
    tokens: Optional[Tensor] = None

    def __post_init__(self):
        self._row = {int(i): r for r, i in enumerate(self.index.tolist())}

    def lookup(self, indices: Sequence[int], T: Optional[int] = None, K: Optional[int] = None) -> LogProbs:
        """Rows for examples with these ``index`` values as a LogProbs [B, K(, T)] (trimmed or padded to K, T)."""
        try:
            idx = torch.tensor([self._row[int(i)] for i in indices], dtype=torch.long)
        except KeyError as err:
            raise KeyError(f"example index {err.args[0]} is not in this log-prob table (computed for other data?)") from None
        sums, lengths = self.sums[idx], self.lengths[idx]
        if K is not None:
            sums, lengths = fit_dim(sums, 1, K), fit_dim(lengths, 1, K)
        out = LogProbs(sums=sums, lengths=lengths, mask=lengths > 0)
        if self.tokens is not None:
            tok = self.tokens[idx]
            if K is not None:
                tok = fit_dim(tok, 1, K)
            if T is not None:
                tok = fit_dim(tok, 2, T)
            out.tokens = tok
            out.token_mask = torch.arange(tok.shape[2])[None, None, :] < out.lengths[:, :, None]
        return out


def fit_dim(x: Tensor, dim: int, size: int) -> Tensor:
    """Trim or zero-pad dimension ``dim`` to ``size``."""
    if x.shape[dim] >= size:
        return x.narrow(dim, 0, size)
    pad = list(x.shape)
    pad[dim] = size - x.shape[dim]
    return torch.cat([x, x.new_zeros(pad)], dim=dim)


def model_fingerprint(model) -> str:
    """A cheap identity of a model's weights: names, shapes and a strided sample of every tensor."""
    h = hashlib.sha256()
    for name, p in model.state_dict().items():
        flat = p.detach().reshape(-1)
        step = max(1, flat.numel() // 64)
        h.update(name.encode())
        h.update(str(tuple(p.shape)).encode())
        h.update(flat[::step][:64].float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def precompute_logps(model, examples: Sequence, pad_id: int, *, batch_size: int = 8, tokens: bool = False,
                     cache_dir: Optional[str] = None, data_fingerprint: Optional[str] = None,
                     progress: bool = False, desc: str = "reference log-probs", **pack_kwargs) -> LogpTable:
    """Run ``model`` over all ``examples`` once (no grad, fast path) and return the table; with
    ``cache_dir`` and ``data_fingerprint`` it is saved and reused (written atomically)."""
    path = None
    if cache_dir is not None and data_fingerprint is not None:
        key = hashlib.sha256(f"{_VERSION}|{data_fingerprint}|{model_fingerprint(model)}|{tokens}".encode()).hexdigest()[:24]
        path = Path(cache_dir) / f"logps-{key}.pt"
        if path.exists():
            return LogpTable(**torch.load(path, weights_only=True))
    was_training = model.training
    model.eval()
    N = len(examples)
    K = max(len(e.completion_ids) for e in examples)
    T = max(len(c) for e in examples for c in e.completion_ids)
    sums = torch.zeros(N, K)
    lengths = torch.zeros(N, K, dtype=torch.long)
    tok = torch.zeros(N, K, T) if tokens else None
    index = torch.tensor([e.index for e in examples], dtype=torch.long)
    steps = range(0, N, batch_size)
    if progress:
        from tqdm.auto import tqdm
        steps = tqdm(steps, desc=desc, unit="batch")
    for s in steps:
        chunk = examples[s:s + batch_size]
        lp = logprobs_for(model, chunk, pad_id, tokens=tokens, **pack_kwargs)
        k = lp.sums.shape[1]
        sums[s:s + len(chunk), :k] = lp.sums.float().cpu()
        lengths[s:s + len(chunk), :k] = lp.lengths.cpu()
        if tokens:
            t = lp.tokens.shape[2]
            tok[s:s + len(chunk), :k, :t] = lp.tokens.float().cpu()
    model.train(was_training)
    table = LogpTable(sums=sums, lengths=lengths, index=index, tokens=tok)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"sums": sums, "lengths": lengths, "index": index, "tokens": tok}, tmp)
        os.replace(tmp, path)
    return table
