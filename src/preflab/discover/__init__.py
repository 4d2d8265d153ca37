"""Objective discovery: candidates run in a sandbox, are validated, and become registry objectives for a run.

>>> from preflab.discover import Limits, check_source
>>> check_source("import math\\ndef f(batch, beta):\\n    return batch.policy_logps[:, 0] * math.pi")
'f'
"""

from .limits import Limits
from .sandbox import REASONS, Sandbox, SandboxResult
from .static_check import StaticViolation, check_source

__all__ = ["Limits", "Sandbox", "SandboxResult", "REASONS", "StaticViolation", "check_source"]
