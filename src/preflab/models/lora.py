"""LoRA adapters (peft) with per-architecture defaults: the attention projections.

>>> from preflab.models import tiny_llama, add_lora
>>> policy = add_lora(tiny_llama(), r=8)        # q/k/v/o of 2 layers: 8 x (64+64 + 64+32 + 64+32 + 64+64) x 2
>>> sum(p.numel() for p in policy.parameters() if p.requires_grad)
7168

Default targets, chosen from the module names the model has:

==========================================  =============================================================
architecture                                ``target_modules``
==========================================  =============================================================
Llama, Mistral, Qwen2/3, Gemma, OLMo, ...    ``q_proj, k_proj, v_proj, o_proj``
Phi-3                                       ``qkv_proj, o_proj``
GPT-2                                       the attention's ``c_attn`` (fused q/k/v) and ``c_proj``; not the
                                            MLP's ``c_proj`` (regex ``.*\\.attn\\.(c_attn|c_proj)``)
others                                      peft's own default for the ``model_type``, if it has one
==========================================  =============================================================

``adapter_disabled(policy)`` (``reference.py``) turns the adapters off, so the base model serves as the
reference without a second copy in memory.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Union

import torch

from .errors import ModelError
from .seeding import seeded
from .unwrap import is_peft_model

__all__ = ["add_lora", "default_target_modules"]

_PROJECTION_SETS = (
    ("q_proj", "k_proj", "v_proj", "o_proj"),
    ("qkv_proj", "o_proj"),
)
_GPT2_ATTENTION = r".*\.attn\.(c_attn|c_proj)"


def default_target_modules(model) -> Union[List[str], str]:
    """The attention projections of ``model`` by name (a list), or GPT-2's as a regex (a string)."""
    leaf_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for names in _PROJECTION_SETS:
        if set(names) <= leaf_names:
            return list(names)
    if {"c_attn", "c_proj"} <= leaf_names:
        return _GPT2_ATTENTION
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type in PEFT_DEFAULTS:
        return list(PEFT_DEFAULTS[model_type])
    linear = sorted({n for n, m in ((k.rsplit(".", 1)[-1], v) for k, v in model.named_modules())
                     if isinstance(m, torch.nn.Linear)})
    raise ModelError(
        f"no default LoRA target modules for {type(model).__name__} (model_type {model_type!r}); pass "
        f"target_modules=[...] naming its attention projections; its linear layers are named {linear}"
    )


def add_lora(model, r: int = 8, alpha: float = 16, dropout: float = 0.0,
             target_modules: Optional[Union[Sequence[str], str]] = None, *, seed: Optional[int] = 0, **lora_kwargs):
    """``model`` wrapped as a ``peft.PeftModel`` with a LoRA adapter of rank ``r`` (scale ``alpha / r``).

    Only the adapter trains: peft freezes every base weight. ``lora_B`` starts at zero, so the wrapped model
    first computes exactly what ``model`` did; ``lora_A`` is drawn from ``seed`` (the caller's random state is
    left alone). ``model`` is changed in place (its layers gain the adapters): take ``frozen_copy(model)``
    first if the untouched model is needed as well. Further keyword arguments go to ``peft.LoraConfig``.
    """
    from peft import LoraConfig, get_peft_model

    if is_peft_model(model):
        raise ModelError(
            f"the model is already a {type(model).__name__}; add a second adapter with "
            "model.add_adapter(name, peft.LoraConfig(...)) instead of wrapping it twice"
        )
    if r < 1:
        raise ModelError(f"LoRA rank r must be a positive integer, got r={r}")
    targets = default_target_modules(model) if target_modules is None else target_modules
    if not isinstance(targets, str):
        targets = list(targets)
    if any(type(m).__name__ == "Conv1D" for m in model.modules()):  # GPT-2 stores weights as [in, out]
        lora_kwargs.setdefault("fan_in_fan_out", True)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets,
                        task_type="CAUSAL_LM", **lora_kwargs)
    with seeded(seed):
        return get_peft_model(model, config)
