"""Seeing through adapter wrappers: the Hugging Face causal LM inside a ``peft.PeftModel``.

peft is only consulted when it has already been imported: a model cannot be a PeftModel otherwise, and
importing peft costs seconds.
"""

from __future__ import annotations

import sys

from .errors import ModelError

__all__ = ["is_peft_model", "causal_lm"]


def is_peft_model(model) -> bool:
    """Whether ``model`` is a ``peft.PeftModel`` (a LoRA-wrapped model from ``add_lora``, for example)."""
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(model, peft.PeftModel)


def causal_lm(model):
    """The transformers model that computes the logits: ``model`` itself, or the base model of a PeftModel
    (whose layers carry the adapters, so running it runs them).

    Prompt-learning PEFT methods (prefix or prompt tuning) change the inputs outside the base model, so
    their base model alone is not the policy; they are refused.
    """
    if not is_peft_model(model):
        return model
    config = model.peft_config[model.active_adapter]
    if config.is_prompt_learning:
        raise ModelError(
            f"{type(model).__name__} uses {config.peft_type} (prompt learning), which adds virtual tokens outside "
            "the base model; preflab supports weight adapters such as LoRA (add_lora)"
        )
    return model.get_base_model()
