"""Rollouts with vLLM, for GPUs: the same contract as :func:`preflab.online.rollout.sample` (token ids in,
``out[i][j]`` = the j-th of k completions of prompt i as token ids, EOS kept when generated), from a saved
policy folder.

vLLM is used only where it is installed (it needs a CUDA GPU); ``rollout="auto"`` in the online loop picks it
then and falls back to HF ``generate`` otherwise. One engine per policy folder, created for the call and
released after it, with ``gpu_memory_utilization`` kept low so the trainer keeps the rest of the GPU. Nash-MD's
geometric mixture needs two models' logits per token and stays on HF ``generate``.

Seeding: ``SamplingParams(seed=seed + i)`` per prompt i, so a round's samples are reproducible on one GPU and
one vLLM version (not across them: vLLM's kernels are not bitwise stable across hardware).
"""

from __future__ import annotations

import gc
from typing import List, Optional, Sequence

__all__ = ["vllm_available", "sample_vllm"]


def vllm_available() -> bool:
    """True when vLLM imports and a CUDA device is present."""
    import importlib.util

    import torch

    return importlib.util.find_spec("vllm") is not None and bool(torch.cuda.is_available())


def sample_vllm(model_dir, prompts: Sequence[Sequence[int]], k: int, *, max_new_tokens: int, eos_id: int,
                pad_id: int, temperature: float = 1.0, top_p: float = 1.0, seed: int = 0,
                suppress_ids: Optional[Sequence[int]] = None, gpu_memory_utilization: float = 0.3,
                dtype: str = "auto") -> List[List[List[int]]]:
    """K completions per prompt from the policy saved in ``model_dir`` (see the module docstring)."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as err:
        raise ValueError("rollout='vllm' needs vLLM (pip install vllm, on a machine with a CUDA GPU); "
                         "use rollout='hf' (transformers generate) or 'auto'") from err
    if k < 1:
        raise ValueError(f"k (completions per prompt) must be >= 1, got {k}")
    if suppress_ids is None:
        suppress_ids = [pad_id] if pad_id != eos_id else []
    bias = {int(t): -100.0 for t in suppress_ids}
    llm = LLM(model=str(model_dir), dtype=dtype, gpu_memory_utilization=gpu_memory_utilization, seed=seed)
    try:
        params = [SamplingParams(n=k, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, seed=seed + i,
                                 stop_token_ids=[eos_id], logit_bias=bias or None, skip_special_tokens=False)
                  for i in range(len(prompts))]
        outputs = llm.generate([{"prompt_token_ids": list(p)} for p in prompts], params, use_tqdm=False)
    finally:
        del llm
        gc.collect()
    out = []
    for request in outputs:
        completions = [list(c.token_ids) for c in request.outputs]
        if len(completions) != k:
            raise RuntimeError(f"vLLM returned {len(completions)} completions for a prompt, asked for {k}")
        out.append([ids if eos_id in ids or c.finish_reason != "stop" else ids + [eos_id]
                    for ids, c in zip(completions, request.outputs)])
    return out
