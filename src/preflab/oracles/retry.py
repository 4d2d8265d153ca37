"""Retrying a flaky call with exponential backoff: wait ``min(backoff * 2**k, backoff_max)`` after the k-th
failure (k = 0, 1, ...), give up after ``1 + max_retries`` tries.

>>> calls = []
>>> def flaky():
...     calls.append(1)
...     if len(calls) < 3:
...         raise TimeoutError("slow")
...     return "ok"
>>> waits = []
>>> retry_call(flaky, max_retries=3, backoff=0.5, retry_on=lambda e: isinstance(e, TimeoutError), sleep=waits.append)
'ok'
>>> waits
[0.5, 1.0]
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

__all__ = ["RetryError", "backoff_delays", "retry_call"]


class RetryError(Exception):
    """The call failed for good: ``tries`` attempts, the last exception in ``last`` (also ``__cause__``);
    ``retryable`` says whether the last error was of a kind worth retrying (False: a client error)."""

    def __init__(self, tries: int, last: BaseException, retryable: bool):
        super().__init__(f"failed after {tries} tr{'y' if tries == 1 else 'ies'}: {type(last).__name__}: {last}")
        self.tries = tries
        self.last = last
        self.retryable = retryable


class Cancelled(Exception):
    """The call was not (re)tried because ``stop`` was set (another item already failed for good)."""


def backoff_delays(max_retries: int, backoff: float, backoff_max: float = float("inf")) -> list[float]:
    """The waits between tries: ``[min(backoff * 2**k, backoff_max) for k in range(max_retries)]``."""
    return [min(backoff * 2.0 ** k, backoff_max) for k in range(max_retries)]


def retry_call(fn: Callable[[], object], *, max_retries: int, backoff: float, backoff_max: float = float("inf"),
               retry_on: Callable[[BaseException], bool] = lambda e: True, sleep: Callable[[float], None] = time.sleep,
               stop: Optional[threading.Event] = None):
    """``fn()``, retried on exceptions for which ``retry_on`` is true; raises :class:`RetryError` when the tries
    are used up or an error is not retryable, :class:`Cancelled` when ``stop`` is set before a try."""
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    delays = backoff_delays(max_retries, backoff, backoff_max)
    for attempt in range(max_retries + 1):
        if stop is not None and stop.is_set():
            raise Cancelled()
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - classified by retry_on
            retryable = bool(retry_on(e))
            if not retryable or attempt == max_retries:
                raise RetryError(attempt + 1, e, retryable) from e
            sleep(delays[attempt])
