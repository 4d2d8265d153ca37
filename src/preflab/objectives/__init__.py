"""Every preference objective as a pure function of a ScoreBatch, and the registry that knows them.

>>> import torch
>>> from preflab.objectives import ScoreBatch, get_objective
>>> batch = ScoreBatch(policy_logps=torch.tensor([[-10.0, -14.0]]), ref_logps=torch.tensor([[-11.0, -12.0]]))
>>> out = get_objective("dpo", beta=0.1)(batch)
>>> round(out.loss.item(), 4), round(out.metrics["rewards/margins"].item(), 4)
(0.5544, 0.3)
"""

from .batch import BatchError, ObjectiveOutput, ScoreBatch
from .registry import (
    DATA_KINDS,
    CompositeObjective,
    Objective,
    ObjectiveError,
    ObjectiveSpec,
    Param,
    get_objective,
    get_spec,
    list_objectives,
    register,
)

# Importing the families fills the registry, in the order `preflab objectives` lists them.
from . import (  # noqa: E402,F401  isort: skip
    dpo, aot, fdivergence, token_weighted, references, reward_aware, reference_free, discovered, unpaired,
    listwise, nash, policy_gradient,
)

__all__ = [
    "ScoreBatch", "ObjectiveOutput", "BatchError", "ObjectiveError", "Param", "ObjectiveSpec", "Objective",
    "CompositeObjective", "register", "get_objective", "get_spec", "list_objectives", "DATA_KINDS",
]
