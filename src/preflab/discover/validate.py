"""Validation of a candidate loss: the checks a loss must pass before it is trained with.

``validate(loss_fn, beta, seed)`` calls ``loss_fn(batch, beta)`` on random pairwise
:class:`~preflab.objectives.ScoreBatch` es and checks, in order (the check's name opens the message of the
:class:`CandidateInvalid` it raises):

- ``tensor``: it returns a floating-point torch tensor;
- ``shape``: of shape ``[B]`` (per-example losses) for B = 1, 2, 7 and 64, float32 and float64;
- ``finite``: every loss is finite;
- ``gradient``: the gradient with respect to ``policy_logps`` exists, is finite and is not zero everywhere;
- ``margin``: a larger margin lowers the loss on average (chosen log-prob raised by 0.5 / beta over 8
  batches of 64: the mean loss must drop);
- ``pure``: the batch is left unchanged (no in-place edits) and two calls on the same batch agree.

It runs inside the sandbox child as the job ``"preflab.discover.validate:validate"``.

>>> import torch.nn.functional as F
>>> def dpo(batch, beta):
...     pi, ref = batch.policy_logps, batch.ref_logps
...     return -F.logsigmoid(beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])))
>>> report = validate(dpo, beta=0.1, seed=0)
>>> report["ok"], sorted(report["checks"])
(True, ['finite', 'gradient', 'margin', 'pure', 'shape', 'tensor'])
>>> validate(lambda batch, beta: dpo(batch, beta).mean(), beta=0.1)
Traceback (most recent call last):
...
preflab.discover.validate.CandidateInvalid: shape: returned a scalar (shape ()) for a batch of 1 pairs; return the per-example losses, shape [B] (no .mean())
"""

from __future__ import annotations

import math

import torch

from preflab.errors import PreflabError
from preflab.objectives import ScoreBatch

__all__ = ["CandidateInvalid", "validate", "random_pairs"]

SIZES = (1, 2, 7, 64)
MARGIN_BATCHES = 8


class CandidateInvalid(PreflabError, ValueError):
    """A candidate that fails a validation check; ``check`` names it (the sandbox reports reason "invalid")."""

    def __init__(self, check: str, message: str):
        super().__init__(f"{check}: {message}")
        self.check = check


def random_pairs(B: int, seed: int, dtype=torch.float64, beta: float = 0.1) -> ScoreBatch:
    """A random batch of B (chosen, rejected) pairs, slot 0 chosen: summed log-probs of 1-40 tokens each,
    policy and reference apart by log-ratios whose margin times ``beta`` is about N(0, 2^2)."""
    g = torch.Generator().manual_seed(int(seed))
    lengths = torch.randint(1, 41, (B, 2), generator=g)
    ref = -lengths.to(dtype) * (0.5 + 2.0 * torch.rand(B, 2, generator=g, dtype=dtype))
    ratio = torch.randn(B, 2, generator=g, dtype=dtype) * (math.sqrt(2.0) / beta)
    return ScoreBatch(policy_logps=ref + ratio, ref_logps=ref, lengths=lengths, mask=torch.ones(B, 2, dtype=torch.bool))


def validate(loss_fn, beta: float = 0.1, seed: int = 0) -> dict:
    """Run every check on ``loss_fn(batch, beta)``; return ``{"ok": True, "checks": {...}}`` or raise
    :class:`CandidateInvalid` naming the first check that failed."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"validate: beta must be a finite number > 0, got {beta!r}")
    checks: dict = {}
    for dtype in (torch.float32, torch.float64):
        for B in SIZES:
            batch = random_pairs(B, seed + B, dtype, beta)
            leaf = batch.policy_logps.clone().requires_grad_(True)
            out = loss_fn(batch.replace(policy_logps=leaf), beta)
            _check_output(out, B, dtype)
            if not torch.isfinite(out).all():
                bad = torch.nonzero(~torch.isfinite(out.detach()))[0].item()
                raise CandidateInvalid("finite", f"loss {out[bad].item()} at example {bad} of a batch of {B} pairs "
                                                 f"({_dtype(dtype)}); guard logs and divisions (clamp, logsigmoid)")
            if not out.requires_grad:
                raise CandidateInvalid("gradient", "the loss does not depend on batch.policy_logps (no gradient)")
            (grad,) = torch.autograd.grad(out.sum(), leaf, allow_unused=True)
            if grad is None or not torch.isfinite(grad).all():
                what = "is missing" if grad is None else "is not finite"
                raise CandidateInvalid("gradient", f"the gradient with respect to policy_logps {what} (batch of {B} "
                                                   f"pairs, {_dtype(dtype)})")
            if B == 64 and not bool((grad != 0).any()):
                raise CandidateInvalid("gradient", "the gradient with respect to policy_logps is zero everywhere on a "
                                                   "batch of 64 pairs; the loss cannot train the policy")
    checks.update(tensor=True, shape=list(SIZES), finite=True, gradient=True)
    checks["margin"] = _check_margin(loss_fn, beta, seed)
    checks["pure"] = _check_pure(loss_fn, beta, seed)
    return {"ok": True, "checks": checks}


def _check_output(out, B: int, dtype) -> None:
    if not isinstance(out, torch.Tensor):
        raise CandidateInvalid("tensor", f"returned {type(out).__name__}, not a torch tensor; return per-example "
                                         "losses, a tensor of shape [B]")
    if not out.is_floating_point():
        raise CandidateInvalid("tensor", f"returned a tensor of {out.dtype}; losses must be floating point")
    if out.dim() == 0:
        raise CandidateInvalid("shape", f"returned a scalar (shape ()) for a batch of {B} pairs; return the "
                                        "per-example losses, shape [B] (no .mean())")
    if tuple(out.shape) != (B,):
        raise CandidateInvalid("shape", f"returned shape {tuple(out.shape)} for a batch of {B} pairs "
                                        f"({_dtype(dtype)}); return per-example losses of shape [{B}]")


def _check_margin(loss_fn, beta: float, seed: int) -> dict:
    shift = 0.5 / beta
    drops = []
    with torch.no_grad():
        for k in range(MARGIN_BATCHES):
            batch = random_pairs(64, seed + 1000 + k, torch.float64, beta)
            wider = batch.policy_logps.clone()
            wider[:, 0] += shift
            before = loss_fn(batch, beta).mean().item()
            after = loss_fn(batch.replace(policy_logps=wider), beta).mean().item()
            drops.append(before - after)
    mean_drop = sum(drops) / len(drops)
    if not math.isfinite(mean_drop) or mean_drop <= 1e-9:
        raise CandidateInvalid("margin", f"raising the margin by {shift:g} (beta * margin by 0.5) changed the mean loss "
                                         f"by {-mean_drop:+.4g} over {MARGIN_BATCHES} batches of 64; a preference loss "
                                         "must fall as the chosen response gains on the rejected one")
    return {"mean_drop": mean_drop, "shift": shift, "batches": MARGIN_BATCHES}


def _check_pure(loss_fn, beta: float, seed: int) -> bool:
    batch = random_pairs(64, seed + 2000, torch.float64, beta)
    saved = {name: getattr(batch, name).clone() for name in ("policy_logps", "ref_logps", "lengths", "mask")}
    with torch.no_grad():
        first = loss_fn(batch, beta)
        second = loss_fn(batch, beta)
    for name, value in saved.items():
        if not torch.equal(getattr(batch, name), value):
            raise CandidateInvalid("pure", f"the loss changed batch.{name} in place; compute on copies "
                                           "(x = x + 1, not x += 1)")
    if not torch.allclose(first, second, rtol=1e-6, atol=1e-9, equal_nan=True):
        raise CandidateInvalid("pure", "two calls on the same batch gave different losses; a loss must be a function "
                                       "of the batch and beta only (no randomness, no state between calls)")
    return True


def _dtype(dtype) -> str:
    return str(dtype).replace("torch.", "")
