"""Objective discovery: candidates run in a sandbox, are validated, and become registry objectives for a run.

The sandbox side (this package's ``sandbox``, ``worker``, ``restricted``, ``static_check``, ``limits``,
``validate``, ``candidate``): a candidate is source text defining one function ``my_loss(batch, beta)``
that returns per-example losses [B]; :class:`Sandbox` runs trusted jobs on it in isolated, limited
processes; :func:`validate` is the job that checks it; :func:`as_objective` makes it an objective.

>>> from preflab.discover import check_source
>>> check_source("import math\\ndef f(batch, beta):\\n    return batch.policy_logps[:, 0] * math.pi")
'f'
"""

from .candidate import as_objective
from .limits import Limits
from .sandbox import REASONS, Sandbox, SandboxResult
from .static_check import StaticViolation, check_source
from .validate import CandidateInvalid, validate

__all__ = ["Limits", "Sandbox", "SandboxResult", "REASONS", "StaticViolation", "check_source", "CandidateInvalid",
           "validate", "as_objective"]
