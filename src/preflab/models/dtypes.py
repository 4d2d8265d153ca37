"""Names of floating-point dtypes, as configs and the command line spell them.

>>> resolve_dtype("bf16"), resolve_dtype("auto"), resolve_dtype(torch.float16)
(torch.bfloat16, 'auto', torch.float16)

float32 is the default everywhere: on a laptop CPU, bfloat16 matmuls run 8-10x slower than float32.
"""

from __future__ import annotations

from typing import Union

import torch

from .errors import ModelError

__all__ = ["resolve_dtype", "DTYPE_NAMES"]

DTYPE_NAMES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


def resolve_dtype(dtype: Union[str, torch.dtype]) -> Union[torch.dtype, str]:
    """A ``torch.dtype`` for a name in ``DTYPE_NAMES`` (or a floating dtype as is); ``"auto"`` stays ``"auto"``
    (the checkpoint's own dtype)."""
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise ModelError(f"dtype must be a floating-point dtype, got {dtype}")
        return dtype
    if dtype == "auto":
        return "auto"
    key = str(dtype).lower().removeprefix("torch.")
    if key not in DTYPE_NAMES:
        raise ModelError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPE_NAMES) + ['auto']} or a torch.dtype")
    return DTYPE_NAMES[key]
