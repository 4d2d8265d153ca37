"""A reward model: any Hugging Face ``AutoModelForSequenceClassification`` scoring (prompt, response).

The reward is the logit when the head has one label, ``logit[1] - logit[0]`` when it has two (a
good/bad classifier). The text is the tokenizer's chat template applied to
``[{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]`` when the tokenizer
has one, else ``prompt + response`` (or ``format_fn(prompt, response)``). Preferences follow by
Bradley-Terry: ``P(a > b) = sigmoid((r_a - r_b) / T)``.

Batches are padded on the right with the model's ``config.pad_token_id`` (so sequence classifiers that pool
the last non-pad token pool the same token as for the text alone); a model without a pad id is run one text
at a time. Texts are sorted by length before batching, to pad little.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

import numpy as np

from .errors import OracleError
from .reward import RewardOracle

__all__ = ["RewardModelOracle"]


class RewardModelOracle(RewardOracle):
    """Rewards from a sequence classifier.

    Arguments:
        model_or_path: a loaded ``PreTrainedModel`` (sequence classification) or a local folder / Hub id.
        tokenizer: its tokenizer; required with a model object, loaded from the path otherwise.
        batch_size: texts per forward pass; device: where to run (default: the model's device, or "cpu").
        temperature: the Bradley-Terry temperature (0: hard labels).
        max_length: truncate texts to this many tokens (None: no truncation).
        format_fn: ``(prompt, response) -> text`` instead of the chat template / concatenation.
        name: the oracle's name in label logs (default: ``reward_model:<path or config name>``).
    """

    def __init__(self, model_or_path, tokenizer=None, batch_size: int = 8, device=None, *, temperature: float = 1.0,
                 max_length: Optional[int] = None, format_fn: Optional[Callable[[str, str], str]] = None,
                 name: Optional[str] = None, **load_kwargs):
        import torch

        if isinstance(model_or_path, (str, os.PathLike)):
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            path = str(model_or_path)
            try:
                model = AutoModelForSequenceClassification.from_pretrained(path, **load_kwargs)
                tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(path)
            except (OSError, ValueError) as e:
                raise OracleError(f"RewardModelOracle: cannot load a sequence classifier from {path!r}: {e}. "
                                  "Pass a local folder with config.json, weights and tokenizer files (offline, "
                                  "HF_HUB_OFFLINE=1, a Hub id works only once cached).") from e
            default_name = f"reward_model:{path}"
        else:
            model = model_or_path
            if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
                raise TypeError(f"RewardModelOracle: model_or_path must be a Hugging Face model or a path, got "
                                f"{type(model).__name__}")
            if tokenizer is None:
                raise ValueError("RewardModelOracle: pass tokenizer=... with a model object (or pass a path)")
            default_name = f"reward_model:{getattr(model.config, '_name_or_path', '') or type(model).__name__}"
        num_labels = getattr(model.config, "num_labels", None)
        if num_labels not in (1, 2):
            raise OracleError(f"RewardModelOracle: the model's head has num_labels={num_labels}; a reward model needs "
                              "1 (the logit is the reward) or 2 (reward = logit[1] - logit[0])")
        if batch_size < 1:
            raise ValueError(f"RewardModelOracle: batch_size must be >= 1, got {batch_size}")
        super().__init__(None, temperature, name=name or default_name)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        if device is not None:
            self.model.to(self.device)
        self.max_length = max_length
        self.format_fn = format_fn
        self.num_labels = num_labels

    def format(self, prompt: str, response: str) -> tuple[str, bool]:
        """(text, whether it already holds the special tokens) for one (prompt, response)."""
        if self.format_fn is not None:
            return self.format_fn(prompt, response), False
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}], tokenize=False)
            return text, True
        return prompt + response, False

    def _encode(self, prompts: list[str], responses: list[str]) -> list[list[int]]:
        texts = [self.format(x, y) for x, y in zip(prompts, responses)]
        kwargs = {"truncation": self.max_length is not None, "max_length": self.max_length}
        templated = [t for t, special in texts if special]
        plain = [t for t, special in texts if not special]
        enc_t = iter(self.tokenizer(templated, add_special_tokens=False, **kwargs)["input_ids"] if templated else [])
        enc_p = iter(self.tokenizer(plain, **kwargs)["input_ids"] if plain else [])
        ids = [list(next(enc_t) if special else next(enc_p)) for _, special in texts]
        for i, row in enumerate(ids):
            if not row:
                raise OracleError(f"RewardModelOracle '{self.name}': item {i} tokenizes to no tokens "
                                  f"(prompt {prompts[i][:40]!r}, response {responses[i][:40]!r})", item=i)
        return ids

    def _rewards(self, prompts: list[str], responses: list[str]) -> np.ndarray:
        import torch

        ids = self._encode(prompts, responses)
        pad = getattr(self.model.config, "pad_token_id", None)
        batch = self.batch_size if pad is not None else 1
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros(len(ids))
        with torch.inference_mode():
            for start in range(0, len(order), batch):
                idx = order[start:start + batch]
                width = max(len(ids[i]) for i in idx)
                input_ids = torch.full((len(idx), width), pad if pad is not None else 0, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):
                    input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
                    mask[row, :len(ids[i])] = 1
                logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)).logits
                logits = logits.float()
                reward = logits[:, 0] if self.num_labels == 1 else logits[:, 1] - logits[:, 0]
                out[idx] = reward.cpu().double().numpy()
        return out
