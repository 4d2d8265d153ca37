"""The model cut where the engine cuts it: the decoder (tokens to final hidden states) and the output matrix.

``decoder_and_head(model)`` returns ``(decoder, W)`` with ``decoder(input_ids=..., attention_mask=...,
position_ids=...)[0] @ W.T == model(...).logits``, so the engine can compute logits only where it needs
them. It sees through a ``peft.PeftModel`` (the decoder then runs the adapters too). It refuses models for
which that identity fails: a head with a bias (Phi, CTRL), a LoRA-wrapped head, or logits rescaled or
soft-capped after the head (Gemma 2/3 ``final_logit_softcapping``, Cohere ``logit_scale``, Granite
``logits_scaling``).

>>> import torch
>>> from preflab.models import tiny_llama, decoder_and_head
>>> model = tiny_llama()
>>> decoder, weight = decoder_and_head(model)
>>> decoder is model.model, tuple(weight.shape)
(True, (256, 64))
>>> ids = torch.tensor([[1, 5, 9, 4]])
>>> with torch.no_grad():
...     torch.allclose(decoder(input_ids=ids)[0] @ weight.T, model(input_ids=ids).logits, atol=1e-5)
True

**Packed sequences and 4D masks.** The engine packs a prompt with several completions into one row and
passes a boolean mask ``[B, 1, L, L]`` (True: may attend) with explicit ``position_ids``. transformers 5
hands a 4D mask to the attention function unchanged, and what happens then depends on the attention
implementation:

* ``sdpa`` (preflab's default, and transformers' for Llama and GPT-2): reads a boolean mask as intended;
  Llama and GPT-2 then give the hidden states of each sequence run alone (tested to 1e-5); GPT-2's learned
  position embeddings are looked up from ``position_ids``, so completions restart where the prompt ends;
* ``eager``: *adds* the mask to the attention scores, so a boolean mask silently adds 0 or 1 and the
  numbers are wrong; for such models ``decoder`` is an ``AdditiveMaskDecoder`` that turns a boolean 4D mask
  into the additive mask (0 or the dtype's lowest value) eager attention expects;
* others (``flash_attention_2``, ``flex_attention``, kernels): cannot take an arbitrary 4D tensor mask, and
  the wrapper refuses one, naming the fix (``model.set_attn_implementation("sdpa")``).
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn

from .errors import ModelError
from .unwrap import causal_lm

__all__ = ["decoder_and_head", "AdditiveMaskDecoder"]

# Config fields that change the logits after the head: soft-capping (any value) and scales (any value but 1).
_SOFTCAPS = ("final_logit_softcapping", "logit_softcapping")
_SCALES = ("logit_scale", "logits_scaling", "output_multiplier")
_BOOL_MASK_NATIVE = frozenset({"sdpa"})
_ADDITIVE_MASK = frozenset({"eager"})


def decoder_and_head(model) -> Tuple[nn.Module, Tensor]:
    """(the decoder module, the output embedding weight [V, H]) of a causal LM or a PeftModel around one."""
    lm = causal_lm(model)
    name = type(lm).__name__
    get_head = getattr(lm, "get_output_embeddings", None)
    head = get_head() if get_head is not None else None
    if head is None:
        raise ModelError(f"{name} has no output embedding (get_output_embeddings() is None); pass a causal LM "
                         "such as AutoModelForCausalLM gives, not a bare decoder")
    if not isinstance(head, nn.Linear):
        raise ModelError(
            f"{name}'s output head is a {type(head).__name__}, not a plain nn.Linear (a LoRA adapter or "
            "modules_to_save on lm_head?); hidden @ W.T would miss its extra terms: leave lm_head out of "
            "target_modules"
        )
    if head.bias is not None:
        raise ModelError(f"{name}'s output head has a bias, so logits are not hidden @ W.T; the fast log-prob "
                         "path cannot serve it: use the engine's naive path for this model")
    _refuse_logit_transforms(lm)
    decoder = lm.get_decoder()
    if decoder is None or decoder is lm:
        raise ModelError(f"{name}.get_decoder() does not return a separate decoder module, so the hidden states "
                         "before the head cannot be reached")
    return _mask_ready(decoder, lm.config), head.weight


def _refuse_logit_transforms(lm) -> None:
    config = lm.config.get_text_config() if hasattr(lm.config, "get_text_config") else lm.config
    for owner in (config, lm):
        for field in _SOFTCAPS:
            if getattr(owner, field, None) is not None:
                raise _transform_error(lm, field, getattr(owner, field))
        for field in _SCALES:
            value = getattr(owner, field, None)
            if value is not None and not isinstance(value, nn.Module) and float(value) != 1.0:
                raise _transform_error(lm, field, value)


def _transform_error(lm, field: str, value) -> ModelError:
    return ModelError(
        f"{type(lm).__name__} transforms its logits after the head ({field}={value}), so hidden @ W.T is not "
        "its logits; the fast log-prob path cannot serve it: use the engine's naive path for this model"
    )


def _mask_ready(decoder: nn.Module, config) -> nn.Module:
    implementation = getattr(config, "_attn_implementation", None) or "eager"
    if implementation in _BOOL_MASK_NATIVE:
        return decoder
    return AdditiveMaskDecoder(decoder, implementation)


class AdditiveMaskDecoder(nn.Module):
    """A decoder whose attention cannot read a boolean 4D mask as given, wrapped so that it can.

    For ``eager`` attention, a boolean ``attention_mask`` of shape [B, 1, L, L] becomes the additive float mask
    (0 where True, the dtype's lowest value where False); other masks pass through unchanged. For any other
    implementation a 4D mask is refused with the fix. Everything else goes to the wrapped decoder as is.
    """

    def __init__(self, decoder: nn.Module, attn_implementation: str):
        super().__init__()
        self.decoder = decoder
        self.attn_implementation = attn_implementation

    def forward(self, *args, attention_mask=None, **kwargs):
        if isinstance(attention_mask, Tensor) and attention_mask.dim() == 4:
            if self.attn_implementation not in _ADDITIVE_MASK:
                raise ModelError(
                    f"attention implementation {self.attn_implementation!r} cannot apply a [B, 1, L, L] tensor "
                    "mask (packed prompt + completions); load with attn_implementation='sdpa' or call "
                    "model.set_attn_implementation('sdpa')"
                )
            if attention_mask.dtype == torch.bool:
                dtype = _float_dtype(self.decoder)
                attention_mask = torch.zeros(attention_mask.shape, dtype=dtype, device=attention_mask.device
                                             ).masked_fill_(~attention_mask, torch.finfo(dtype).min)
        return self.decoder(*args, attention_mask=attention_mask, **kwargs)


def _float_dtype(module: nn.Module) -> torch.dtype:
    dtype = getattr(module, "dtype", None)
    if isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return dtype
    return next(p.dtype for p in module.parameters() if p.is_floating_point())
