"""Packing B prompts with K completions each into rows where every prompt runs once.

A *group* is one prompt followed by its K completions: ``[prompt | c_1 | c_2 | ... | c_K]``. Inside a
group, completion k attends causally to the prompt and to itself, never to another completion, and its
position ids continue from the prompt's length, so each completion sees exactly what it would see alone.
Several groups may share a row (padding-free packing); groups never attend to each other.

The hidden state that predicts completion token t is the one at the position of token t - 1, except for
t = 0, whose predictor is the prompt's last token (shared by the K completions). ``PackedBatch.source``
holds that position for every completion token, so logits are computed only there.

>>> from types import SimpleNamespace as Ex
>>> batch = pack([Ex(prompt_ids=[1, 2, 3], completion_ids=[[4, 5], [6]])], pad_id=0)
>>> batch.input_ids.tolist()
[[1, 2, 3, 4, 5, 6]]
>>> batch.position_ids.tolist()                 # completion 2 restarts at the prompt's length
[[0, 1, 2, 3, 4, 3]]
>>> batch.source.tolist(), batch.targets.tolist()   # token 6 is predicted from position 2 (the prompt)
([2, 3, 2], [4, 5, 6])
>>> batch.attention_mask[0, 0].int().tolist()
[[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 1]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

__all__ = ["PackedBatch", "pack", "plan_rows"]


@dataclass
class PackedBatch:
    """Rows ready for one forward pass, and the map from completion tokens back to [B, K, T].

    ``input_ids``/``position_ids`` [R, L]; ``attention_mask`` [R, 1, L, L] bool (True = may attend).
    For the N completion tokens: ``source`` [N] flat index (row * L + position) of the predicting hidden
    state, ``targets`` [N] token ids, ``slot`` [N] = (example, completion, token) index triples as three
    [N] tensors ``b``, ``k``, ``t``. ``lengths`` [B, K] completion lengths (0 where absent), ``mask`` [B, K].
    ``prompt_last`` [B] flat index of each prompt's last token (a value head reads V(x) there).
    """

    input_ids: Tensor
    position_ids: Tensor
    attention_mask: Tensor
    source: Tensor
    targets: Tensor
    b: Tensor
    k: Tensor
    t: Tensor
    lengths: Tensor
    mask: Tensor
    prompt_last: Tensor

    @property
    def B(self) -> int:
        return self.lengths.shape[0]

    @property
    def K(self) -> int:
        return self.lengths.shape[1]

    @property
    def T(self) -> int:
        return int(self.lengths.max()) if self.lengths.numel() else 0

    @property
    def n_tokens(self) -> int:
        """Tokens the model runs (padding included)."""
        return self.input_ids.numel()

    def to(self, device) -> "PackedBatch":
        return PackedBatch(**{f: getattr(self, f).to(device) for f in self.__dataclass_fields__})


def _group_length(example) -> int:
    return len(example.prompt_ids) + sum(len(c) for c in example.completion_ids)


def plan_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: group indices per row, each row's total length <= capacity (a group longer
    than the capacity gets a row of its own)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(capacity - lengths[i])
    return rows


def pack(examples: Sequence, pad_id: int, *, max_row_tokens: int | None = None, packing: bool = True) -> PackedBatch:
    """Pack examples (objects with ``prompt_ids`` and ``completion_ids``) into rows.

    With ``packing``, groups share rows up to ``max_row_tokens`` (default: the longest group, so packing
    never lengthens a row: attention cost grows with the square of the row length). Without it, one
    group per row.
    """
    if not examples:
        raise ValueError("pack() needs at least one example")
    B = len(examples)
    K = max(len(e.completion_ids) for e in examples)
    sizes = [_group_length(e) for e in examples]
    for i, e in enumerate(examples):
        if len(e.prompt_ids) == 0:
            raise ValueError(f"example {i} has an empty prompt: the first completion token needs a token to be "
                             "predicted from (a BOS token or a chat template)")
        if not e.completion_ids or any(len(c) == 0 for c in e.completion_ids):
            raise ValueError(f"example {i} has an empty completion")
    if packing:
        capacity = max(max_row_tokens or 0, max(sizes))
        rows = plan_rows(sizes, capacity)
    else:
        rows = [[i] for i in range(B)]
    L = max(sum(sizes[i] for i in row) for row in rows)
    R = len(rows)

    input_ids = torch.full((R, L), pad_id, dtype=torch.long)
    position_ids = torch.zeros((R, L), dtype=torch.long)
    group = torch.full((R, L), -1, dtype=torch.long)        # which group a token belongs to (-1 padding)
    part = torch.zeros((R, L), dtype=torch.long)            # 0 prompt, k + 1 completion k
    lengths = torch.zeros((B, K), dtype=torch.long)
    prompt_last = torch.zeros(B, dtype=torch.long)
    source, targets, bs, ks, ts = [], [], [], [], []
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            e = examples[i]
            P = len(e.prompt_ids)
            input_ids[r, at:at + P] = torch.tensor(e.prompt_ids)
            position_ids[r, at:at + P] = torch.arange(P)
            group[r, at:at + P] = i
            last_prompt = r * L + at + P - 1
            prompt_last[i] = last_prompt
            at += P
            for k, c in enumerate(e.completion_ids):
                C = len(c)
                input_ids[r, at:at + C] = torch.tensor(c)
                position_ids[r, at:at + C] = torch.arange(P, P + C)
                group[r, at:at + C] = i
                part[r, at:at + C] = k + 1
                lengths[i, k] = C
                src = [last_prompt] + list(range(r * L + at, r * L + at + C - 1))
                source.extend(src)
                targets.extend(c)
                bs.extend([i] * C)
                ks.extend([k] * C)
                ts.extend(range(C))
                at += C
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    same_group = group[:, :, None] == group[:, None, :]
    visible_part = (part[:, None, :] == 0) | (part[:, :, None] == part[:, None, :])
    allowed = causal & same_group & visible_part & (group[:, :, None] >= 0)
    allowed |= torch.eye(L, dtype=torch.bool)               # padding attends to itself: no empty softmax row
    return PackedBatch(
        input_ids=input_ids, position_ids=position_ids, attention_mask=allowed[:, None],
        source=torch.tensor(source, dtype=torch.long), targets=torch.tensor(targets, dtype=torch.long),
        b=torch.tensor(bs, dtype=torch.long), k=torch.tensor(ks, dtype=torch.long), t=torch.tensor(ts, dtype=torch.long),
        lengths=lengths, mask=lengths > 0, prompt_last=prompt_last,
    )
