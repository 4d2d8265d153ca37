"""Rollouts: K sampled completions per prompt with Hugging Face ``generate`` (batched, KV cache), as token ids.

Completions keep their EOS when the model produced one (the trainer scores it like any token) and stop
there; padding is removed. ``mixture_with`` samples from Nash-MD's geometric mixture
``pi_mix ∝ pi^(1-m) ref^m``, token by token, through a logits processor that runs the reference model on the
same prefix.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import torch

__all__ = ["sample", "GeometricMixture", "load_policy", "suppressed_ids"]


def load_policy(path):
    """A saved policy for sampling and scoring: float32, in eval mode."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def suppressed_ids(tokenizer) -> List[int]:
    """The token ids a rollout never samples: padding, BOS and unknown (EOS stays: it ends a response)."""
    eos = tokenizer.eos_token_id
    return sorted({tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.unk_token_id} - {eos, None})


class GeometricMixture:
    """A ``LogitsProcessor``: next-token log-probs ``(1 - m) log pi + m log ref`` (renormalized by sampling)."""

    def __init__(self, ref_model, coef: float, pad_id: int, prompt_width: int, prompt_mask: torch.Tensor):
        if not 0 <= coef <= 1:
            raise ValueError(f"mixture coefficient must lie in [0, 1], got {coef}")
        self.ref, self.coef, self.pad_id = ref_model, coef, pad_id
        self.width, self.prompt_mask = prompt_width, prompt_mask      # [rows, width]: real prompt tokens

    @torch.no_grad()
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # left padding only covers the prompt; generated tokens (pads after an early EOS included) all attend
        new = torch.ones(input_ids.shape[0], input_ids.shape[1] - self.width, dtype=torch.long, device=input_ids.device)
        mask = torch.cat([self.prompt_mask.to(input_ids.device), new], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        ref_logits = self.ref(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits[:, -1, :]
        return ((1 - self.coef) * torch.log_softmax(scores.float(), -1)
                + self.coef * torch.log_softmax(ref_logits.float(), -1))


@torch.no_grad()
def sample(model, prompts: Sequence[Sequence[int]], k: int, *, max_new_tokens: int, eos_id: int, pad_id: int,
           temperature: float = 1.0, top_p: float = 1.0, seed: int = 0, batch_size: int = 64,
           mixture_with=None, mixture_coef: float = 0.5,
           suppress_ids: Optional[Sequence[int]] = None) -> List[List[List[int]]]:
    """``out[i][j]``: the j-th of k completions of prompt i (token ids, EOS included when generated).

    Sampling is seeded (``torch.manual_seed(seed)`` for the call), so a round's samples are reproducible on
    CPU. ``mixture_with`` (a reference model) samples from Nash-MD's geometric mixture instead.
    ``suppress_ids`` are never sampled (default: the pad token, unless it is also EOS)."""
    from transformers import LogitsProcessorList

    from preflab.models.seeding import seeded

    if k < 1:
        raise ValueError(f"k (completions per prompt) must be >= 1, got {k}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    if suppress_ids is None:
        suppress_ids = [pad_id] if pad_id != eos_id else []
    out: List[List[List[int]]] = []
    with seeded(seed):
        for s in range(0, len(prompts), batch_size):
            chunk = [list(p) for p in prompts[s:s + batch_size]]
            width = max(len(p) for p in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            attn = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, p in enumerate(chunk):                       # left padding: generation continues on the right
                ids[i, width - len(p):] = torch.tensor(p)
                attn[i, width - len(p):] = 1
            processors = None
            if mixture_with is not None:
                processors = LogitsProcessorList([GeometricMixture(mixture_with, mixture_coef, pad_id, width,
                                                                   attn.repeat_interleave(k, dim=0))])
            gen = model.generate(input_ids=ids.to(device), attention_mask=attn.to(device), do_sample=True,
                                 temperature=temperature, top_p=top_p, top_k=0, max_new_tokens=max_new_tokens,
                                 num_return_sequences=k, pad_token_id=pad_id, eos_token_id=eos_id,
                                 logits_processor=processors, suppress_tokens=list(suppress_ids) or None)
            new = gen[:, width:].tolist()
            for i in range(len(chunk)):
                out.append([_cut(new[i * k + j], eos_id, pad_id) for j in range(k)])
    model.train(was_training)
    return out


def _cut(ids: List[int], eos_id: int, pad_id: int) -> List[int]:
    if eos_id in ids:
        return ids[: ids.index(eos_id) + 1]
    while ids and ids[-1] == pad_id and pad_id != eos_id:
        ids = ids[:-1]
    return ids
