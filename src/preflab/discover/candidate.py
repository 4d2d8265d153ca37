"""A validated candidate as a registry objective for the run: ``as_objective(code_or_fn, name)``.

Call it inside the sandbox child (fitness jobs do: they receive the candidate's compiled ``loss_fn``),
never on untrusted source in the parent process. The objective is registered under ``name`` in the
registry of the process that calls it (the child's copy), so ``preflab.games.train_objective(P, name,
...)`` and ``preflab train`` find it there: data "pairwise", needs a reference, summed log-probs, one
hyperparameter ``beta``. The candidate always sees slot 0 as the chosen response: a batch whose ``ranks``
put the chosen response in slot 1 is reordered first.

>>> import torch
>>> import torch.nn.functional as F
>>> from preflab.objectives import ScoreBatch
>>> def my_dpo(batch, beta):
...     pi, ref = batch.policy_logps, batch.ref_logps
...     return -F.logsigmoid(beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])))
>>> obj = as_objective(my_dpo, "doctest_dpo", beta=0.1)
>>> b = ScoreBatch(policy_logps=torch.tensor([[-14.0, -10.0]]), ref_logps=torch.tensor([[-12.0, -11.0]]),
...                ranks=torch.tensor([[1, 0]]))                 # slot 1 chosen: rho = (1) - (-2) = 3
>>> round(obj(b).loss.item(), 6)                                # -logsig(0.3)
0.554355
>>> obj.spec.data, obj.spec.needs_reference, obj.spec.logp_scale, obj.hparams
('pairwise', True, 'sum', {'beta': 0.1})
>>> from preflab.objectives.registry import unregister
>>> unregister("doctest_dpo")                                  # leave the registry as we found it
"""

from __future__ import annotations

import re
from typing import Callable, Union

import torch

from preflab.objectives import ObjectiveOutput, ScoreBatch, get_objective
from preflab.objectives.dpo import _output
from preflab.objectives.pairs import chosen_rejected
from preflab.objectives.registry import Objective, Param, get_spec, register

__all__ = ["as_objective", "candidate_function"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BETA = Param(0.1, "inverse temperature of the implicit reward beta * log(pi/pi_ref)", "(0, inf)")


def candidate_function(code: str, trusted: bool = False) -> Callable:
    """Compile candidate source with the sandbox's restrictions (static check, restricted builtins,
    module proxies). It runs the code in this process, so it refuses unless this process is a sandbox
    child (whose audit hook guards it) or ``trusted=True`` (a file you wrote or reviewed)."""
    from .restricted import compile_candidate, inside_sandbox
    from .static_check import check_source

    if not trusted and not inside_sandbox():
        raise ValueError("refusing to run candidate source outside the sandbox: run it as a sandbox job "
                         "(Sandbox.run) and call as_objective(loss_fn, name) there, or pass trusted=True for "
                         "code you wrote or reviewed")
    check_source(code)
    return compile_candidate(code, guard=None)


def as_objective(code: Union[str, Callable], name: str, trusted: bool = False, **hparams) -> Objective:
    """Register the candidate (source text, or the ``loss_fn`` a sandbox job received) as objective
    ``name`` in this process's registry; return it bound to ``hparams`` (``beta``, default 0.1).

    Source text is compiled only inside a sandbox child or with ``trusted=True`` (see
    :func:`candidate_function`). Registering the same function under the same name again returns it
    bound anew; another function under a taken name is a ValueError.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"as_objective: name {name!r} must be an identifier (letters, digits, _), e.g. 'cand_0012'")
    loss_fn = candidate_function(code, trusted) if isinstance(code, str) else code
    if not callable(loss_fn):
        raise ValueError(f"as_objective: expected candidate source or a function, got {type(code).__name__}")
    try:
        spec = get_spec(name)
    except ValueError:
        spec = None
    if spec is not None:
        if getattr(spec.fn, "candidate", None) is not loss_fn:
            raise ValueError(f"as_objective: the objective name '{name}' is taken (by {spec.paper!r}); give the "
                             "candidate a fresh name")
        return get_objective(name, **hparams)

    def objective(batch: ScoreBatch, *, beta: float) -> ObjectiveOutput:
        pol_w, pol_l = chosen_rejected(batch, batch.policy_logps)
        ref_w, ref_l = chosen_rejected(batch, batch.ref_logps)
        pair = ScoreBatch(policy_logps=torch.stack([pol_w, pol_l], 1), ref_logps=torch.stack([ref_w, ref_l], 1),
                          lengths=None if batch.lengths is None else torch.stack(chosen_rejected(batch, batch.lengths), 1))
        losses = loss_fn(pair, beta)
        if not isinstance(losses, torch.Tensor) or tuple(losses.shape) != (batch.B,):
            shape = tuple(losses.shape) if isinstance(losses, torch.Tensor) else type(losses).__name__
            raise ValueError(f"discovered objective '{name}' returned {shape}, expected per-example losses [{batch.B}]")
        return _output(batch, losses, pol_w - ref_w, pol_l - ref_l, beta)

    objective.__doc__ = f"Discovered candidate '{name}': loss_fn(batch, beta) per pair (preflab discover)."
    objective.candidate = loss_fn
    register(name, paper=f"candidate '{name}' found by preflab discover", arxiv="", equation="candidate code",
             data="pairwise", logp="sum", requires=("ref_logps",), params={"beta": _BETA})(objective)
    return get_objective(name, **hparams)
