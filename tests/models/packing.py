"""A packed row built by hand for the mask tests: a prompt, then two completions that each see the prompt
and themselves only, with positions continuing from the prompt's length."""

import torch

PROMPT = [5, 17, 42, 8, 99]
COMPLETIONS = ([7, 3, 250, 11], [64, 2, 31])


def packed_row():
    """(input_ids [1, L], position_ids [1, L], mask [1, 1, L, L] bool, segment id of every position)."""
    segments = [0] * len(PROMPT)
    positions = list(range(len(PROMPT)))
    for k, completion in enumerate(COMPLETIONS, start=1):
        segments += [k] * len(completion)
        positions += list(range(len(PROMPT), len(PROMPT) + len(completion)))
    seg = torch.tensor(segments)
    L = len(segments)
    causal = torch.ones(L, L, dtype=torch.bool).tril()
    same_or_prompt = (seg[:, None] == seg[None, :]) | (seg[None, :] == 0)
    ids = torch.tensor([PROMPT + [t for c in COMPLETIONS for t in c]])
    return ids, torch.tensor([positions]), (causal & same_or_prompt)[None, None], seg


def separate_hidden(decoder):
    """Hidden states of the packed row's positions, each sequence run on its own: [L, H]."""
    rows = []
    for k, completion in enumerate(COMPLETIONS):
        hidden = decoder(input_ids=torch.tensor([PROMPT + completion]), use_cache=False)[0][0]
        rows.append(hidden if k == 0 else hidden[len(PROMPT):])
    return torch.cat(rows)
