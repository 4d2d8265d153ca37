"""Log-probabilities of target tokens straight from hidden states, never holding [tokens, vocab] whole.

``token_logprobs(hidden [N, H], weight [V, H], targets [N])`` returns ``log softmax(hidden @ weight.T)``
at the targets, in float32. It works through the N tokens in chunks: each chunk's logits exist only
while that chunk is processed, forward and backward (the backward recomputes them), so peak memory is
``chunk x V`` instead of ``N x V`` (OpenRLHF's and TRL's published cuts of 2x, without their copies of
the logits). Optionally it also returns ``log sum_v pi(v)^2`` per token, WPO's alignment term (detached).

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> h, w = torch.randn(5, 4, generator=g, requires_grad=True), torch.randn(11, 4, generator=g, requires_grad=True)
>>> t = torch.tensor([1, 0, 7, 3, 3])
>>> fast = token_logprobs(h, w, t, chunk_tokens=2)
>>> slow = torch.log_softmax(h @ w.T, -1).gather(1, t[:, None])[:, 0]
>>> torch.allclose(fast, slow, atol=1e-6)
True
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["token_logprobs", "default_chunk_tokens"]


def default_chunk_tokens(vocab_size: int, budget_bytes: int = 64 * 2**20) -> int:
    """Tokens per chunk so that one chunk of float32 logits stays within ``budget_bytes``."""
    return max(1, budget_bytes // (4 * vocab_size))


class _LinearLogSoftmaxGather(torch.autograd.Function):
    """Forward and backward both walk the tokens in chunks through one reused logits buffer, updated in
    place (fresh [chunk, V] temporaries cost more in allocation and memory traffic than the matmuls)."""

    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, targets: Tensor, chunk: int, want_sq_mass: bool):
        N = hidden.shape[0]
        acc = torch.promote_types(hidden.dtype, torch.float32)   # float32, or float64 for float64 inputs
        out = torch.empty(N, dtype=acc, device=hidden.device)
        lse = torch.empty(N, dtype=acc, device=hidden.device)
        sq = torch.empty(N, dtype=acc, device=hidden.device) if want_sq_mass else None
        buf = hidden.new_empty(min(chunk, N), weight.shape[0])
        for s in range(0, N, chunk):
            e = min(s + chunk, N)
            logits = torch.mm(hidden[s:e], weight.T, out=buf[: e - s]).to(acc)
            lse[s:e] = torch.logsumexp(logits, dim=-1)
            out[s:e] = logits.gather(1, targets[s:e, None])[:, 0] - lse[s:e]
            if sq is not None:
                sq[s:e] = torch.logsumexp(logits.mul_(2), dim=-1) - 2 * lse[s:e]
        ctx.save_for_backward(hidden, weight, targets, lse)
        ctx.chunk = chunk
        if sq is None:
            return out
        ctx.mark_non_differentiable(sq)
        return out, sq

    @staticmethod
    def backward(ctx, grad_out: Tensor, *unused):
        hidden, weight, targets, lse = ctx.saved_tensors
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        acc = lse.dtype
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=acc, device=weight.device) if need_w else None
        N, chunk = hidden.shape[0], ctx.chunk
        buf = hidden.new_empty(min(chunk, N), weight.shape[0])
        rows = torch.arange(min(chunk, N), device=hidden.device)
        for s in range(0, N, chunk):
            e = min(s + chunk, N)
            g = grad_out[s:e].to(acc)
            # d logp(target) / d logits = onehot(target) - softmax(logits), times the incoming gradient
            dlogits = torch.mm(hidden[s:e], weight.T, out=buf[: e - s]).to(acc)
            dlogits.sub_(lse[s:e, None]).exp_().mul_(-g[:, None])
            dlogits[rows[: e - s], targets[s:e]] += g
            d = dlogits.to(hidden.dtype)
            if need_h:
                torch.mm(d, weight, out=grad_h[s:e])
            if need_w:
                grad_w.addmm_(dlogits.T, hidden[s:e].to(acc))
        return grad_h, (grad_w.to(weight.dtype) if need_w else None), None, None, None


def token_logprobs(hidden: Tensor, weight: Tensor, targets: Tensor, *, chunk_tokens: int | None = None,
                   with_sq_mass: bool = False):
    """log softmax(hidden @ weight.T)[targets] per row, float32 (float64 for float64 inputs) [N]; with
    ``with_sq_mass`` also
    log sum_v softmax(.)_v^2 [N] (no gradient). Chunks of ``chunk_tokens`` rows (default: 64 MB of logits)."""
    if hidden.dim() != 2 or weight.dim() != 2 or hidden.shape[1] != weight.shape[1]:
        raise ValueError(f"token_logprobs needs hidden [N, H] and weight [V, H], got {tuple(hidden.shape)} and "
                         f"{tuple(weight.shape)}")
    chunk = chunk_tokens or default_chunk_tokens(weight.shape[0])
    return _LinearLogSoftmaxGather.apply(hidden, weight, targets, chunk, with_sq_mass)
