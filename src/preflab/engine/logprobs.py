"""(model, B prompts x K completions) -> log-probabilities: the fast path and the naive one it must equal.

``compute_logprobs`` packs each prompt once with its completions (``packing.pack``), runs the decoder
without its head, and turns only the hidden states that predict completion tokens into log-probs, in
chunks (``fused_logprobs.token_logprobs``). ``naive_logprobs`` runs every prompt + completion on its
own through the whole model with a full float32 log-softmax, the way TRL's ``DPOTrainer`` does: tests
hold the two equal, benchmarks time them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import Tensor

from .fused_logprobs import token_logprobs
from .packing import PackedBatch, pack

__all__ = ["LogProbs", "compute_logprobs", "naive_logprobs", "logprobs_for"]


@dataclass
class LogProbs:
    """Log-probabilities of B x K completions, float32.

    ``sums`` [B, K] summed over completion tokens (0 where a slot is absent); ``lengths`` [B, K]; ``mask``
    [B, K]; with per-token output: ``tokens`` [B, K, T] and ``token_mask`` [B, K, T]; ``sq_mass`` [B, K, T]
    is log sum_v pi(v | context)^2 (for WPO) when asked for; ``prompt_hidden`` [B, H] the final hidden
    state at each prompt's last token (for a value head), when asked for.
    """

    sums: Tensor
    lengths: Tensor
    mask: Tensor
    tokens: Optional[Tensor] = None
    token_mask: Optional[Tensor] = None
    sq_mass: Optional[Tensor] = None
    prompt_hidden: Optional[Tensor] = None

    def detach(self) -> "LogProbs":
        return LogProbs(**{f: (v.detach() if isinstance(v, Tensor) else v) for f, v in self.__dict__.items()})


def _decoder_and_head(model):
    from preflab.models import decoder_and_head  # models may import transformers lazily; engine stays light

    return decoder_and_head(model)


def compute_logprobs(model, batch: PackedBatch, *, tokens: bool = False, sq_mass: bool = False,
                     prompt_hidden: bool = False, chunk_tokens: Optional[int] = None) -> LogProbs:
    """Fast path: one forward over the packed rows, logits only at completion positions, chunked."""
    decoder, weight = _decoder_and_head(model)
    device = weight.device
    batch = batch.to(device)
    out = decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                  position_ids=batch.position_ids, use_cache=False)
    hidden = out[0] if isinstance(out, tuple) else out.last_hidden_state
    flat = hidden.reshape(-1, hidden.shape[-1])
    result = token_logprobs(flat.index_select(0, batch.source), weight, batch.targets, chunk_tokens=chunk_tokens,
                            with_sq_mass=sq_mass)
    lp, sq = result if sq_mass else (result, None)
    out = _scatter(batch, lp, sq, tokens)
    if prompt_hidden:
        out.prompt_hidden = flat.index_select(0, batch.prompt_last)
    return out


def _scatter(batch: PackedBatch, lp: Tensor, sq: Optional[Tensor], tokens: bool) -> LogProbs:
    B, K, T = batch.B, batch.K, max(batch.T, 1)
    flat = batch.b * K + batch.k
    sums = torch.zeros(B * K, dtype=lp.dtype, device=lp.device).index_add(0, flat, lp).view(B, K)
    result = LogProbs(sums=sums, lengths=batch.lengths, mask=batch.mask)
    if tokens or sq is not None:
        index = (batch.b, batch.k, batch.t)
        result.token_mask = torch.zeros(B, K, T, dtype=torch.bool, device=lp.device).index_put(
            index, torch.ones_like(batch.t, dtype=torch.bool))
        if tokens:
            result.tokens = lp.new_zeros(B, K, T).index_put(index, lp)
        if sq is not None:
            result.sq_mass = sq.new_zeros(B, K, T).index_put(index, sq)
    return result


def naive_logprobs(model, examples: Sequence, pad_id: int, *, tokens: bool = False) -> LogProbs:
    """The reference path: each prompt + completion as its own sequence (right-padded), full logits at
    every position, a float32 (float64 for float64 models) log-softmax over the whole vocabulary, then the
    completion tokens gathered."""
    seqs, spans = [], []
    for b, e in enumerate(examples):
        for k, c in enumerate(e.completion_ids):
            seqs.append(list(e.prompt_ids) + list(c))
            spans.append((b, k, len(e.prompt_ids), len(c)))
    L = max(len(s) for s in seqs)
    device = next(model.parameters()).device
    ids = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    attn = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        attn[i, : len(s)] = 1
    logits = model(input_ids=ids.to(device), attention_mask=attn.to(device), use_cache=False).logits
    logp = torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
    B, K = len(examples), max(len(e.completion_ids) for e in examples)
    T = max(c for *_, c in spans)
    token_lp = logp.new_zeros(B, K, T)
    token_mask = torch.zeros(B, K, T, dtype=torch.bool, device=logp.device)
    lengths = torch.zeros(B, K, dtype=torch.long)
    for i, (b, k, P, C) in enumerate(spans):
        target = ids[i, P:P + C].to(device)
        token_lp[b, k, :C] = logp[i, P - 1:P + C - 1].gather(1, target[:, None])[:, 0]
        token_mask[b, k, :C] = True
        lengths[b, k] = C
    lengths = lengths.to(device)
    return LogProbs(sums=token_lp.sum(-1), lengths=lengths, mask=lengths > 0,
                    tokens=token_lp if tokens else None, token_mask=token_mask if tokens else None)


def logprobs_for(model, examples: Sequence, pad_id: int, *, tokens: bool = False, sq_mass: bool = False,
                 prompt_hidden: bool = False, packing: bool = True, max_row_tokens: Optional[int] = None,
                 chunk_tokens: Optional[int] = None) -> LogProbs:
    """Pack ``examples`` and run the fast path: the one call most code needs."""
    packed = pack(examples, pad_id, packing=packing, max_row_tokens=max_row_tokens)
    return compute_logprobs(model, packed, tokens=tokens, sq_mass=sq_mass, prompt_hidden=prompt_hidden,
                            chunk_tokens=chunk_tokens)
