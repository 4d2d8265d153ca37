"""The reference policy: a frozen copy of the model, or the base model under its adapters.

Two ways to hold pi_ref next to pi_theta:

* ``frozen_copy(model)``: a deep copy in eval mode with every ``requires_grad`` off (twice the weights in
  memory; works for any model);
* ``adapter_disabled(policy)``: for a PEFT policy (``add_lora``), a context manager under which the adapters
  are off, so the policy computes its base model: no copy at all.

>>> import torch
>>> from preflab.models import tiny_llama, add_lora, adapter_disabled, frozen_copy
>>> base = tiny_llama()
>>> ref = frozen_copy(base)
>>> ref.training, any(p.requires_grad for p in ref.parameters())
(False, False)
>>> policy = add_lora(base)
>>> ids = torch.tensor([[1, 2, 3]])
>>> with torch.no_grad(), adapter_disabled(policy):
...     torch.equal(policy(input_ids=ids).logits, ref(input_ids=ids).logits)
True
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterator

from .errors import ModelError
from .unwrap import is_peft_model

__all__ = ["frozen_copy", "adapter_disabled"]


def frozen_copy(model):
    """A deep copy of ``model`` in eval mode, with no parameter requiring gradients and no gradients held.

    The copy shares no storage with ``model`` (tied weights stay tied inside the copy), so training ``model``
    leaves it unchanged. A PeftModel is copied with its adapters as they are now.
    """
    frozen = copy.deepcopy(model)
    frozen.eval()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
        parameter.grad = None
    return frozen


@contextmanager
def adapter_disabled(model) -> Iterator:
    """Inside the block ``model`` (a PeftModel, or a transformers model with adapters added through
    ``model.add_adapter``) runs without its adapters, that is as its base model; they are back on exiting.

    It changes neither the train/eval mode nor gradient tracking: wrap reference forwards in
    ``torch.no_grad()``.
    """
    if is_peft_model(model):
        with model.disable_adapter():
            yield model
        return
    if getattr(model, "_hf_peft_config_loaded", False):
        model.disable_adapters()
        try:
            yield model
        finally:
            model.enable_adapters()
        return
    raise ModelError(
        f"adapter_disabled needs a model with adapters (a peft.PeftModel, e.g. from add_lora), got "
        f"{type(model).__name__}; without adapters there is no base model inside it to use as the reference: "
        "use frozen_copy(model) for a separate reference"
    )
