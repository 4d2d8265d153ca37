"""The one error type of ``preflab.oracles``: an oracle that could not give a label, and what to do about it."""

from __future__ import annotations

from typing import Optional

import numpy as np

from preflab.errors import PreflabError

__all__ = ["OracleError"]


class OracleError(PreflabError, RuntimeError):
    """An oracle failed to label (a server kept failing, a callable returned garbage, a model is missing).

    The message names the oracle, the item and how to fix it. Optional attributes for programs:

    - ``item``: index (in the failing call) of the item that failed, or None;
    - ``tries``: how many attempts were made for it, or None;
    - ``completed``: float64 [n] of the probabilities obtained in the failing call before it stopped
      (NaN where none was obtained), or None; :class:`~preflab.oracles.LabelLog` saves these;
    - ``saved``: how many labels a :class:`~preflab.oracles.LabelLog` wrote before raising, or None.
    """

    def __init__(self, message: str, *, item: Optional[int] = None, tries: Optional[int] = None,
                 completed: Optional[np.ndarray] = None, saved: Optional[int] = None):
        super().__init__(message)
        self.item = item
        self.tries = tries
        self.completed = completed
        self.saved = saved
