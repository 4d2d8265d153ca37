"""The one data shape every objective reads: B prompts, each with K responses.

K = 2 for pairs, K > 2 for lists, K = 1 for unpaired feedback. Every tensor is indexed ``[B, K, ...]``;
a slot ``k`` of prompt ``b`` holds a response when ``mask[b, k]`` is true (lists can be ragged).

>>> import torch
>>> batch = ScoreBatch(
...     policy_logps=torch.tensor([[-10.0, -12.0]]),
...     ref_logps=torch.tensor([[-11.0, -11.0]]),
... )
>>> batch.B, batch.K
(1, 2)
>>> batch.logratios()
tensor([[ 1., -1.]])
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

import torch
from torch import Tensor

from preflab.errors import PreflabError

__all__ = ["ScoreBatch", "ObjectiveOutput", "BatchError"]

# The shape of every optional field, one letter a dimension: B prompts, K responses, T tokens,
# M opponents, R extra references. T must agree across the per-token fields.
_SHAPES = {
    "ref_logps": "BK", "lengths": "BK", "mask": "BK", "ranks": "BK", "rewards": "BK", "labels": "BK",
    "prefs": "BKK", "opponent_logps": "BKM", "extra_ref_logps": "BKR",
    "token_logps": "BKT", "token_mask": "BKT", "ref_token_logps": "BKT", "old_token_logps": "BKT",
    "token_log_sq_mass": "BKT", "kl_policy_logps": "B", "kl_ref_logps": "B", "values": "B",
}


class BatchError(PreflabError, ValueError):
    """A ScoreBatch that an objective cannot use: the message names the objective and the field."""


@dataclass(frozen=True)
class ScoreBatch:
    """Log-probabilities and preference signals for B prompts with K responses each.

    Contract fields (``../DESIGN.md``), float unless noted:

    ============================  ============  =====================================================
    field                         shape         meaning
    ============================  ============  =====================================================
    ``policy_logps``              [B, K]        sum over completion tokens of log pi_theta(y_t | x, y_<t)
    ``ref_logps``                 [B, K]        the same under the reference policy
    ``lengths``                   [B, K] int    completion token counts (for length-averaged objectives)
    ``mask``                      [B, K] bool   which slots hold a response (ragged lists)
    ``ranks``                     [B, K]        0 is best; equal ranks are ties (a pair: ``[0, 1]``)
    ``rewards``                   [B, K]        scalar scores from an oracle
    ``prefs``                     [B, K, K]     ``prefs[b, i, j]`` = P(y_i preferred to y_j | x_b)
    ``labels``                    [B, K]        +1 desirable, -1 undesirable (unpaired feedback)
    ``opponent_logps``            [B, K, M]     summed log-probs under M opponent policies
    ``token_logps``               [B, K, T]     per-token policy log-probs (zero where masked)
    ``token_mask``                [B, K, T]     which token positions are completion tokens
    ============================  ============  =====================================================

    Extensions (optional; each named by the objectives that need it):

    ============================  ============  =====================================================
    ``ref_token_logps``           [B, K, T]     per-token reference log-probs (LD-DPO, Nash-MD, GRPO KL)
    ``old_token_logps``           [B, K, T]     per-token log-probs of the sampling policy (GRPO-style
                                                importance ratios); absent means on-policy
    ``token_log_sq_mass``         [B, K, T]     log sum_v pi_theta(v | x, y_<t)^2 (WPO's alignment)
    ``extra_ref_logps``           [B, K, R]     summed log-probs under R further references (MRPO)
    ``kl_policy_logps``           [B]           policy log-probs of mismatched (x_i, y_j) pairs (KTO)
    ``kl_ref_logps``              [B]           the same under the reference (KTO)
    ``values``                    [B]           a value head's V(x) (DRO)
    ============================  ============  =====================================================

    A pairwise objective reads the chosen response from the slot with rank 0 (slot 0 when ``ranks`` is
    None) and the rejected one from the other slot.
    """

    policy_logps: Tensor
    ref_logps: Optional[Tensor] = None
    lengths: Optional[Tensor] = None
    mask: Optional[Tensor] = None
    ranks: Optional[Tensor] = None
    rewards: Optional[Tensor] = None
    prefs: Optional[Tensor] = None
    labels: Optional[Tensor] = None
    opponent_logps: Optional[Tensor] = None
    token_logps: Optional[Tensor] = None
    token_mask: Optional[Tensor] = None
    ref_token_logps: Optional[Tensor] = None
    old_token_logps: Optional[Tensor] = None
    token_log_sq_mass: Optional[Tensor] = None
    extra_ref_logps: Optional[Tensor] = None
    kl_policy_logps: Optional[Tensor] = None
    kl_ref_logps: Optional[Tensor] = None
    values: Optional[Tensor] = None

    def __post_init__(self):
        pl = self.policy_logps
        if not isinstance(pl, Tensor):
            raise BatchError(f"ScoreBatch.policy_logps must be a torch.Tensor [B, K], got {type(pl).__name__}")
        if pl.dim() != 2:
            raise BatchError(
                f"ScoreBatch.policy_logps must have shape [B, K], got {tuple(pl.shape)}; "
                "for one response per prompt use shape [B, 1]"
            )
        if not pl.is_floating_point():
            raise BatchError(f"ScoreBatch.policy_logps must be floating point, got {pl.dtype}")
        sizes = {"B": pl.shape[0], "K": pl.shape[1]}
        for name, spec in _SHAPES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, Tensor):
                raise BatchError(f"ScoreBatch.{name} must be a torch.Tensor, got {type(value).__name__}")
            ok = value.dim() == len(spec) and all(
                value.shape[i] == sizes.setdefault(letter, value.shape[i])
                for i, letter in enumerate(spec)
                if letter not in "MR"
            )
            if not ok:
                want = ", ".join(f"{c}={sizes[c]}" if c in sizes else c for c in spec)
                raise BatchError(
                    f"ScoreBatch.{name} must have shape [{want}] (B and K from policy_logps, T shared by "
                    f"every per-token field), got {tuple(value.shape)}"
                )
        if self.mask is not None and self.mask.dtype != torch.bool:
            raise BatchError(f"ScoreBatch.mask must be a bool tensor, got {self.mask.dtype}")
        if self.token_mask is not None and self.token_mask.dtype != torch.bool:
            raise BatchError(f"ScoreBatch.token_mask must be a bool tensor, got {self.token_mask.dtype}")

    # ----------------------------------------------------------------------------------------------
    @property
    def B(self) -> int:
        return self.policy_logps.shape[0]

    @property
    def K(self) -> int:
        return self.policy_logps.shape[1]

    def slot_mask(self) -> Tensor:
        """``mask``, or all true when the batch is not ragged."""
        if self.mask is None:
            return torch.ones(self.B, self.K, dtype=torch.bool, device=self.policy_logps.device)
        return self.mask

    def logratios(self, average: bool = False) -> Tensor:
        """``log pi_theta(y) - log pi_ref(y)`` per response [B, K]; per token when ``average``."""
        policy, ref = self.policy_logps, self.ref_logps
        if ref is None:
            raise BatchError("ScoreBatch.ref_logps is None, so log-ratios to the reference are undefined")
        if average:
            return (policy - ref) / self.lengths.clamp(min=1).to(policy.dtype)
        return policy - ref

    def zero_absent(self) -> "ScoreBatch":
        """A copy whose absent slots (``mask`` false) and padding positions (``token_mask`` false) hold 0.

        Objectives receive batches through this, so a filler value (or a huge one) in an absent slot can
        neither leak into a loss nor turn a gradient into NaN; the gradient there is exactly 0.
        """
        slot = None if self.mask is None or bool(self.mask.all()) else self.mask
        tok = None if self.token_mask is None or bool(self.token_mask.all()) else self.token_mask
        if slot is None and tok is None:
            return self
        changes = {}
        for name, spec in [("policy_logps", "BK"), *_SHAPES.items()]:
            value = getattr(self, name)
            if value is None or name in ("mask", "token_mask") or not spec.startswith("BK"):
                continue
            keep = torch.ones((), dtype=torch.bool, device=value.device)
            if slot is not None:
                keep = slot[:, :, None] & slot[:, None, :] if spec == "BKK" else slot.view(*slot.shape, *([1] * (value.dim() - 2)))
            if tok is not None and spec == "BKT":
                keep = keep & tok
            changes[name] = torch.where(keep, value, torch.zeros_like(value))
        return self.replace(**changes)

    def replace(self, **changes) -> "ScoreBatch":
        """A copy with some fields changed (the batch itself is immutable)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return ScoreBatch(**values)


@dataclass
class ObjectiveOutput:
    """What an objective returns: the scalar ``loss`` (mean of ``per_example`` unless an objective says
    otherwise), ``per_example`` [B], and ``metrics``: detached scalars under TRL's names."""

    loss: Tensor
    per_example: Tensor
    metrics: dict
