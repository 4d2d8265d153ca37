"""Policies and references: tiny seeded models (more to come: loading, SmolLM2, LoRA, references).

>>> from preflab.models import tiny_llama
>>> model = tiny_llama(seed=0)                  # 2 layers, hidden 64, vocabulary 256: builds in milliseconds
>>> model.config.hidden_size
64

Importing this package is cheap: transformers' model classes load on first use.
"""

from .dtypes import resolve_dtype
from .errors import ModelError
from .tiny import CONFIG_A, llama_config_a, tiny_gpt2, tiny_llama

__all__ = ["resolve_dtype", "ModelError", "tiny_llama", "tiny_gpt2", "llama_config_a", "CONFIG_A"]
