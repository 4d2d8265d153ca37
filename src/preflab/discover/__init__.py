"""Objective discovery: proposers write loss code, a sandbox runs it, cheap tasks score it, an archive keeps it.

The search side: :func:`discover` with a :class:`DiscoverConfig` (what ``preflab discover`` runs), the
proposers :class:`ProgramSearch` (expression trees, mutation and crossover), :class:`LLMProposer` (any
OpenAI-compatible endpoint, DiscoPOP's loop) and :class:`FileProposer`, the fitness jobs in ``fitness``
(exact games) and ``tiny`` (a tiny model's reward-KL frontier), the SQLite :class:`Archive`, and
:func:`get_objective_or_file` (``file:<path.py>:<fn>``, how ``preflab train`` reads an exported loss).

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
           "validate", "as_objective", "DiscoverConfig", "discover", "ProgramSearch", "LLMProposer", "FileProposer",
           "Archive", "Proposal", "get_objective_or_file"]

_LAZY = {"DiscoverConfig": "search", "discover": "search", "ProgramSearch": "program_search",
         "LLMProposer": "llm_proposer", "FileProposer": "file_proposer", "Archive": "archive", "Proposal": "proposal",
         "get_objective_or_file": "export"}


def __getattr__(name):
    """The search side loads on first use: a sandbox worker imports this package and needs none of it."""
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
