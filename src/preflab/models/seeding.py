"""Random initialization that depends only on a seed and leaves the caller's random state alone.

>>> with seeded(0):
...     a = torch.rand(2)
>>> with seeded(0):
...     b = torch.rand(2)
>>> torch.equal(a, b)
True
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch

__all__ = ["seeded"]


@contextmanager
def seeded(seed: Optional[int]) -> Iterator[None]:
    """Inside the block the CPU generator starts from ``seed``; afterwards it is back where it was.

    Modules are built on the CPU (and moved afterwards), so the CPU generator is the only one they draw
    from; GPU generators are neither read nor changed. ``seed=None`` draws from the global state as is.
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(seed))
        yield
