"""Tiny causal LMs built from a config and a seed: the same seed gives the same weights, on every run.

They train in milliseconds, so tests and demos use them; ``CONFIG_A`` is the benchmark's mid-size model
(a 4-layer Llama over SmolLM2's 49,152-token vocabulary, tied embeddings, 16.8M parameters).

>>> model = tiny_llama(seed=0)
>>> sum(p.numel() for p in model.parameters())
90432
>>> tiny_llama(seed=0).model.embed_tokens.weight[0, :3].tolist() == model.model.embed_tokens.weight[0, :3].tolist()
True
>>> sum(p.numel() for p in tiny_gpt2(seed=0).parameters())
149248
>>> dict(CONFIG_A)["vocab_size"], dict(CONFIG_A)["num_hidden_layers"]
(49152, 4)

Weights are drawn in float32 on the CPU from a generator seeded with ``seed`` (the caller's random state is
left as it was), then cast to ``dtype`` and moved to ``device``: a bfloat16 tiny model is the float32 one
rounded. Dropout is off (``dropout=0.0``), as preference optimization usually runs. The model comes back
as built, in train mode like any new torch module; the trainer sets modes.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Optional, Union

import torch

from .dtypes import resolve_dtype
from .seeding import seeded

__all__ = ["tiny_llama", "tiny_gpt2", "llama_config_a", "CONFIG_A"]

CONFIG_A = MappingProxyType({
    "vocab_size": 49152,  # SmolLM2's tokenizer
    "hidden_size": 256,
    "intermediate_size": 1024,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "tie_word_embeddings": True,
    "max_position_embeddings": 2048,
})


def _finish(model, *, dtype, device, attn_implementation: Optional[str]):
    if attn_implementation is not None:
        model.set_attn_implementation(attn_implementation)
    dtype = resolve_dtype(dtype)
    if dtype != "auto":
        model.to(dtype)
    if device is not None:
        model.to(device)
    return model


def tiny_llama(*, vocab_size: int = 256, hidden_size: int = 64, intermediate_size: int = 128,
               num_hidden_layers: int = 2, num_attention_heads: int = 4, num_key_value_heads: int = 2,
               tie_word_embeddings: bool = True, max_position_embeddings: int = 512, seed: Optional[int] = 0,
               dtype: Union[str, torch.dtype] = "float32", device: Optional[Union[str, torch.device]] = None,
               attn_implementation: Optional[str] = "sdpa", **config_kwargs):
    """A ``LlamaForCausalLM`` with random weights from ``seed``; defaults: 2 layers, hidden 64, 4 query heads
    sharing 2 key/value heads, vocabulary 256, tied embeddings. ``config_kwargs`` go to ``LlamaConfig``
    (for example ``rope_theta``)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads, tie_word_embeddings=tie_word_embeddings,
        max_position_embeddings=max_position_embeddings, **config_kwargs,
    )
    with seeded(seed):
        model = LlamaForCausalLM(config)
    return _finish(model, dtype=dtype, device=device, attn_implementation=attn_implementation)


def tiny_gpt2(*, vocab_size: int = 256, hidden_size: int = 64, intermediate_size: Optional[int] = None,
              num_hidden_layers: int = 2, num_attention_heads: int = 4, tie_word_embeddings: bool = True,
              max_position_embeddings: int = 512, dropout: float = 0.0, seed: Optional[int] = 0,
              dtype: Union[str, torch.dtype] = "float32", device: Optional[Union[str, torch.device]] = None,
              attn_implementation: Optional[str] = "sdpa", **config_kwargs):
    """A ``GPT2LMHeadModel`` with random weights from ``seed``; same argument names as ``tiny_llama``
    (``intermediate_size`` None means 4 x hidden, as in GPT-2). Learned absolute positions, so
    ``max_position_embeddings`` bounds the longest sequence. The end-of-text id is ``vocab_size - 1``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size, n_embd=hidden_size, n_inner=intermediate_size, n_layer=num_hidden_layers,
        n_head=num_attention_heads, n_positions=max_position_embeddings, tie_word_embeddings=tie_word_embeddings,
        resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
        bos_token_id=vocab_size - 1, eos_token_id=vocab_size - 1, **config_kwargs,
    )
    with seeded(seed):
        model = GPT2LMHeadModel(config)
    return _finish(model, dtype=dtype, device=device, attn_implementation=attn_implementation)


def llama_config_a(*, seed: Optional[int] = 0, **overrides):
    """The benchmark's "config A": ``tiny_llama(**CONFIG_A)``, any field overridable."""
    return tiny_llama(**{**CONFIG_A, "seed": seed, **overrides})
