"""The objective registry: every objective registered once, by decorator, with its paper and its needs.

Names are stable: a registered name never changes its mathematics; a changed formula gets a new name
(``bco_pair`` is TRL's current form; the older running-shift form is ``bco``).

>>> from preflab.objectives import get_objective, list_objectives
>>> dpo = get_objective("dpo", beta=0.1)
>>> dpo.spec.arxiv, dpo.spec.logp_scale, dpo.hparams
('2305.18290', 'sum', {'beta': 0.1, 'label_smoothing': 0.0})
>>> get_objective("dpoo")
Traceback (most recent call last):
...
preflab.objectives.registry.ObjectiveError: unknown objective 'dpoo'; did you mean 'dpo'? (`preflab objectives` lists them all)

Objectives compose: a weighted sum of registered objectives is itself an objective.

>>> mix = get_objective("dpo + 0.2*bco_pair + sft", beta=0.1)
>>> [(w, o.name) for w, o in mix.terms]
[(1.0, 'dpo'), (0.2, 'bco_pair'), (1.0, 'sft')]
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import torch

from preflab.errors import PreflabError

from .batch import BatchError, ObjectiveOutput, ScoreBatch

__all__ = [
    "Param", "ObjectiveSpec", "Objective", "CompositeObjective", "ObjectiveError",
    "register", "unregister", "get_objective", "get_spec", "list_objectives", "DATA_KINDS",
]

DATA_KINDS = ("pairwise", "listwise", "unpaired", "online", "policy_gradient")

_REGISTRY: dict[str, "ObjectiveSpec"] = {}
_ALIASES: dict[str, str] = {}


class ObjectiveError(PreflabError, ValueError):
    """A bad objective name or hyperparameter; the message names the objective and the fix."""


# --------------------------------------------------------------------------------------------------
# Hyperparameters
# --------------------------------------------------------------------------------------------------

_INTERVAL = re.compile(r"^\s*([\[(])\s*(-?inf|-?[\d.e+-]+)\s*,\s*(-?inf|[\d.e+-]+)\s*([\])])\s*$")


@dataclass(frozen=True)
class Param:
    """One hyperparameter: default, meaning, and the values it may take.

    ``range`` is an interval in plain notation (``"(0, inf)"``, ``"[0, 0.5)"``); ``choices`` a tuple.
    ``kind`` (float, int, bool, str or tuple of floats) is read from the default unless the default is
    None, which means "off" (the objective says what None does) and is always allowed.
    """

    default: Any
    help: str
    range: Optional[str] = None
    choices: Optional[tuple] = None
    kind: Optional[type] = None

    def __post_init__(self):
        if self.kind is None:
            if self.default is None:
                raise ValueError(f"Param({self.help!r}): a default of None needs an explicit kind")
            object.__setattr__(self, "kind", list if isinstance(self.default, (list, tuple)) else type(self.default))

    def check(self, objective: str, name: str, value: Any) -> Any:
        if value is None and self.default is None:
            return None
        if self.choices is not None:
            if value not in self.choices:
                raise ObjectiveError(f"{objective}: {name}={value!r} is not one of {list(self.choices)}")
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ObjectiveError(f"{objective}: {name} must be true or false, got {value!r}")
            return value
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ObjectiveError(f"{objective}: {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ObjectiveError(f"{objective}: {name} must be finite, got {value!r}")
            if self.kind is int and int(value) != value:
                raise ObjectiveError(f"{objective}: {name} must be an integer, got {value!r}")
            value = self.kind(value)
            if self.range is not None and not _in_interval(value, self.range):
                raise ObjectiveError(f"{objective}: {name}={value!r} is out of range; it must lie in {self.range}")
            return value
        if self.kind is list:
            if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
            ):
                raise ObjectiveError(f"{objective}: {name} must be a list of finite numbers, got {value!r}")
            return tuple(float(v) for v in value)
        if not isinstance(value, self.kind):
            raise ObjectiveError(f"{objective}: {name} must be a {self.kind.__name__}, got {value!r}")
        return value


def _in_interval(value: float, interval: str) -> bool:
    m = _INTERVAL.match(interval)
    if not m:
        raise ValueError(f"bad interval {interval!r}")
    left, lo, hi, right = m.groups()
    lo, hi = float(lo), float(hi)
    ok_lo = value >= lo if left == "[" else value > lo
    ok_hi = value <= hi if right == "]" else value < hi
    return ok_lo and ok_hi


# --------------------------------------------------------------------------------------------------
# Specs and the decorator
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectiveSpec:
    """What the registry knows of one objective."""

    name: str
    fn: Callable[..., ObjectiveOutput]
    paper: str
    arxiv: str
    equation: str
    data: str
    logp_scale: str
    params: dict = field(default_factory=dict)
    requires: tuple = ()
    aliases: tuple = ()
    state: Optional[Callable[[], Any]] = None
    param_check: Optional[Callable[[dict], Optional[str]]] = None
    pair: bool = False
    summary: str = ""

    @property
    def needs_reference(self) -> bool:
        """Whether a reference model must be run: pi_ref, or further references (MRPO, Pre-DPO's guide)."""
        return "ref_logps" in self.requires or "extra_ref_logps" in self.requires

    @property
    def needs_opponents(self) -> bool:
        return "opponent_logps" in self.requires

    @property
    def defaults(self) -> dict:
        return {k: p.default for k, p in self.params.items()}

    def as_dict(self) -> dict:
        """The JSON form that ``preflab objectives --json`` prints."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "paper": self.paper,
            "arxiv": self.arxiv,
            "equation": self.equation,
            "data": self.data,
            "needs_reference": self.needs_reference,
            "needs_opponents": self.needs_opponents,
            "logp_scale": self.logp_scale,
            "requires": ["|".join(r) if isinstance(r, tuple) else r for r in self.requires],
            "hyperparameters": {k: _jsonable(p.default) for k, p in self.params.items()},
            "hyperparameter_help": {k: p.help for k, p in self.params.items()},
        }

    # -- validation of a batch against what this objective needs ----------------------------------
    def check(self, batch: ScoreBatch) -> None:
        if not isinstance(batch, ScoreBatch):
            raise BatchError(f"{self.name}: expected a ScoreBatch, got {type(batch).__name__}")
        for need in ("policy_logps",) + tuple(self.requires):
            options = need if isinstance(need, tuple) else (need,)
            if all(getattr(batch, n) is None for n in options):
                what = " or ".join(f"ScoreBatch.{n}" for n in options)
                raise BatchError(f"{self.name} needs {what} ({_FIELD_HELP[options[0]]}), got None")
        mask = batch.slot_mask()
        if not mask.any(dim=1).all():
            raise BatchError(f"{self.name}: ScoreBatch.mask leaves a prompt with no response")
        floats = {n: getattr(batch, n) for n in _FLOAT_FIELDS if getattr(batch, n) is not None}
        for name, value in floats.items():
            if not value.is_floating_point():
                raise BatchError(f"{self.name}: ScoreBatch.{name} must be floating point, got {value.dtype}")
        # one device sync for all fields; the slow path below only runs to name the culprit
        if not bool(torch.stack([torch.isfinite(v).all() for v in floats.values()]).all()):
            for name, value in floats.items():
                finite = torch.isfinite(value)
                if not finite.all():
                    bad = torch.nonzero(~finite)[0].tolist()
                    raise BatchError(
                        f"{self.name}: ScoreBatch.{name} has a non-finite value at index {bad}; check the "
                        "log-prob computation (an empty completion, -inf logits) or the data. Masked slots and "
                        "padding positions must hold a finite filler such as 0 (they are ignored, but NaN "
                        "would poison gradients)"
                    )
        if batch.lengths is not None and (batch.lengths[mask] < 1).any():
            raise BatchError(f"{self.name}: ScoreBatch.lengths must be >= 1 for every response")
        if batch.labels is not None and not (batch.labels[mask].abs() == 1).all():
            raise BatchError(f"{self.name}: ScoreBatch.labels must be +1 (desirable) or -1 (undesirable)")
        if batch.prefs is not None:
            pm = mask[:, :, None] & mask[:, None, :]
            p = batch.prefs[pm]
            if ((p < 0) | (p > 1)).any():
                raise BatchError(f"{self.name}: ScoreBatch.prefs must be probabilities in [0, 1]")
        if self.pair:
            if batch.K != 2:
                raise BatchError(
                    f"{self.name} reads pairs and needs K=2 responses per prompt, got K={batch.K}; "
                    "for lists use a listwise objective (`preflab objectives --data listwise`)"
                )
            if not mask.all():
                raise BatchError(f"{self.name} reads pairs: ScoreBatch.mask must keep both responses of every pair")
            if batch.ranks is not None and (batch.ranks[:, 0] == batch.ranks[:, 1]).any():
                row = int(torch.nonzero(batch.ranks[:, 0] == batch.ranks[:, 1])[0])
                raise BatchError(f"{self.name}: pair {row} is a tie in ScoreBatch.ranks; drop ties or use a listwise objective")
        elif self.data == "listwise" and (mask.sum(dim=1) < 2).any():
            raise BatchError(f"{self.name} is listwise and needs at least 2 responses per prompt")


_FLOAT_FIELDS = ("policy_logps", "ref_logps", "rewards", "prefs", "opponent_logps", "token_logps",
                 "ref_token_logps", "old_token_logps", "token_log_sq_mass", "extra_ref_logps",
                 "kl_policy_logps", "kl_ref_logps", "values")

_FIELD_HELP = {
    "policy_logps": "summed log-probs of each response under the policy",
    "ref_logps": "summed log-probs under the reference policy",
    "lengths": "completion token counts, for length-averaged log-probs",
    "ranks": "0 is best",
    "rewards": "a scalar score per response",
    "prefs": "pairwise preference probabilities P(y_i > y_j)",
    "labels": "+1 desirable / -1 undesirable",
    "opponent_logps": "summed log-probs under the M opponent policies, [B, K, M]",
    "token_logps": "per-token policy log-probs, [B, K, T]",
    "token_mask": "which positions are completion tokens",
    "ref_token_logps": "per-token reference log-probs, [B, K, T]",
    "old_token_logps": "per-token log-probs of the policy that sampled the responses",
    "token_log_sq_mass": "log sum_v pi(v|context)^2 per token, from the engine",
    "extra_ref_logps": "summed log-probs under the further references, [B, K, R]",
    "kl_policy_logps": "policy log-probs of mismatched prompt/response pairs",
    "kl_ref_logps": "reference log-probs of mismatched prompt/response pairs",
    "values": "the value head's V(x) per prompt",
}


def register(
    name: str,
    *,
    paper: str,
    arxiv: str,
    equation: str,
    data: str,
    logp: str,
    params: Optional[dict] = None,
    requires: tuple = (),
    aliases: tuple = (),
    state: Optional[Callable[[], Any]] = None,
    param_check: Optional[Callable[[dict], Optional[str]]] = None,
    pair: Optional[bool] = None,
):
    """Register ``fn(batch, **hparams) -> ObjectiveOutput`` under ``name`` (and ``aliases``).

    ``requires`` lists the ScoreBatch fields it reads beyond ``policy_logps``; a tuple inside it means
    "one of these". ``state`` builds the mutable state of a stateful objective (BCO's running mean); the
    function then receives it as ``state=``. ``param_check(hparams)`` returns an error message when
    hyperparameters that are each in range do not fit together (INPO's tau <= eta). ``pair`` says the
    objective reads one (chosen, rejected) pair per prompt, K = 2 (default: ``data == "pairwise"``).
    """
    if data not in DATA_KINDS:
        raise ValueError(f"data must be one of {DATA_KINDS}, got {data!r}")
    if logp not in ("sum", "mean"):
        raise ValueError(f"logp must be 'sum' or 'mean', got {logp!r}")

    def decorate(fn):
        if name in _REGISTRY or name in _ALIASES:
            raise ValueError(f"objective {name!r} registered twice")
        doc = (fn.__doc__ or "").strip()
        spec = ObjectiveSpec(
            name=name, fn=fn, paper=paper, arxiv=arxiv, equation=equation, data=data, logp_scale=logp,
            params=dict(params or {}), requires=tuple(requires), aliases=tuple(aliases), state=state,
            param_check=param_check, pair=(data == "pairwise") if pair is None else pair,
            summary=doc.splitlines()[0] if doc else "",
        )
        _REGISTRY[name] = spec
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return decorate


def unregister(name: str) -> None:
    """Remove an objective registered at run time (a discovered candidate, a loss loaded from a file), with its
    aliases, so a process that tried it leaves the registry as it found it."""
    spec = get_spec(name)
    del _REGISTRY[spec.name]
    for alias in spec.aliases:
        _ALIASES.pop(alias, None)


def get_spec(name: str) -> ObjectiveSpec:
    key = name.strip()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        known = list(_REGISTRY) + list(_ALIASES)
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        raise ObjectiveError(f"unknown objective '{name}'{hint} (`preflab objectives` lists them all)")
    return _REGISTRY[key]


def list_objectives(data: Optional[str] = None) -> list[ObjectiveSpec]:
    """Every registered objective (in registration order), optionally only those for one data kind."""
    if data is not None and data not in DATA_KINDS:
        raise ObjectiveError(f"unknown data kind '{data}'; choose one of {', '.join(DATA_KINDS)}")
    return [s for s in _REGISTRY.values() if data is None or s.data == data]


# --------------------------------------------------------------------------------------------------
# Objectives: a spec bound to hyperparameters
# --------------------------------------------------------------------------------------------------


class _Combinable:
    def __add__(self, other):
        return CompositeObjective(_terms(self) + _terms(other))

    __radd__ = __add__

    def __mul__(self, weight):
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            return NotImplemented
        return CompositeObjective([(float(weight) * w, o) for w, o in _terms(self)])

    __rmul__ = __mul__


def _terms(obj) -> list:
    if isinstance(obj, CompositeObjective):
        return list(obj.terms)
    if isinstance(obj, Objective):
        return [(1.0, obj)]
    raise TypeError(f"cannot combine an objective with {type(obj).__name__}")


class Objective(_Combinable):
    """A registered objective with its hyperparameters bound: ``objective(batch) -> ObjectiveOutput``.

    ``validate=False`` skips the batch checks (a synchronizing pass over the tensors) in hot loops whose
    batches were already checked once.
    """

    def __init__(self, spec: ObjectiveSpec, hparams: dict, validate: bool = True):
        self.spec = spec
        self.hparams = hparams
        self.validate = validate
        self.state = spec.state() if spec.state is not None else None

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, batch: ScoreBatch) -> ObjectiveOutput:
        if self.validate:
            self.spec.check(batch)
        batch = batch.zero_absent()
        if self.state is not None:
            return self.spec.fn(batch, state=self.state, **self.hparams)
        return self.spec.fn(batch, **self.hparams)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams.items())
        return f"Objective({self.name}: {args})"


class CompositeState:
    """The states of a composite's stateful terms (BCO's running mean), seen as one: ``frozen`` sets every
    term's, ``state_dict`` keys each term's state by its position in the sum, ``load_state_dict`` restores them."""

    def __init__(self, terms: list):
        self.states = {i: obj.state for i, (_, obj) in enumerate(terms) if getattr(obj, "state", None) is not None}

    @property
    def frozen(self) -> bool:
        return all(st.frozen for st in self.states.values())

    @frozen.setter
    def frozen(self, value: bool) -> None:
        for st in self.states.values():
            st.frozen = value

    def state_dict(self) -> dict:
        return {str(i): st.state_dict() for i, st in self.states.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != {str(i) for i in self.states}:
            raise ObjectiveError(f"composite state for terms {sorted(state)} does not match this objective's "
                                 f"stateful terms {sorted(map(str, self.states))}")
        for i, st in self.states.items():
            st.load_state_dict(state[str(i)])


class CompositeObjective(_Combinable):
    """A weighted sum of objectives: ``loss = sum_i w_i loss_i`` and likewise ``per_example``.

    Metrics of each term are kept under ``"<name>/<metric>"``, plus ``"<name>/loss"``. Stateful terms keep
    their state, forwarded as one ``state`` (:class:`CompositeState`; None when no term has any), so the
    trainer freezes it for evaluation and saves it in checkpoints as it does a single objective's.
    """

    def __init__(self, terms: list):
        if not terms:
            raise ObjectiveError("a composite objective needs at least one term")
        self.terms = terms
        state = CompositeState(terms)
        self.state = state if state.states else None

    @property
    def name(self) -> str:
        return " + ".join(o.name if w == 1 else f"{w:g}*{o.name}" for w, o in self.terms)

    def __call__(self, batch: ScoreBatch) -> ObjectiveOutput:
        loss, per_example, metrics = 0.0, 0.0, {}
        for weight, obj in self.terms:
            out = obj(batch)
            loss = loss + weight * out.loss
            per_example = per_example + weight * out.per_example
            metrics[f"{obj.name}/loss"] = out.loss.detach()
            metrics.update({f"{obj.name}/{k}": v for k, v in out.metrics.items()})
        return ObjectiveOutput(loss=loss, per_example=per_example, metrics=metrics)

    def __repr__(self) -> str:
        return f"CompositeObjective({self.name})"


_TERM = re.compile(r"^\s*(?:([\d.eE+-]+)\s*\*\s*)?([A-Za-z_][\w]*)\s*(?:\*\s*([\d.eE+-]+))?\s*$")


def get_objective(name: str, validate: bool = True, **hparams) -> Objective | CompositeObjective:
    """Build a registered objective with hyperparameters (defaults for the rest).

    ``name`` may be a weighted sum such as ``"dpo + 0.2*bco_pair + sft"``. A plain hyperparameter goes
    to every term that has it (TRL's shared ``beta``); ``"bco_pair.beta"`` goes to one term only.
    """
    if "+" in name or "*" in name:
        parts = [p for p in name.split("+")]
        terms, used = [], set()
        for part in parts:
            m = _TERM.match(part)
            if not m or (m.group(1) and m.group(3)):
                raise ObjectiveError(f"cannot read the term '{part.strip()}' of '{name}'; write it as 'w*name'")
            weight = float(m.group(1) or m.group(3) or 1.0)
            spec = get_spec(m.group(2))
            own = {}
            for key, value in hparams.items():
                target, _, param = key.rpartition(".")
                if target and target not in (spec.name, m.group(2)):
                    continue
                if param in spec.params:
                    own[param] = value
                    used.add(key)
            terms.append((weight, _bind(spec, own, validate)))
        unused = set(hparams) - used
        if unused:
            raise ObjectiveError(f"no term of '{name}' takes the hyperparameter(s) {sorted(unused)}")
        return CompositeObjective(terms)
    return _bind(get_spec(name), hparams, validate)


def _bind(spec: ObjectiveSpec, hparams: dict, validate: bool) -> Objective:
    values = spec.defaults
    for key, value in hparams.items():
        if key not in spec.params:
            near = difflib.get_close_matches(key, list(spec.params), n=1, cutoff=0.4)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            valid = ", ".join(spec.params) or "none"
            raise ObjectiveError(f"{spec.name} has no hyperparameter '{key}'{hint} (it takes: {valid})")
        values[key] = spec.params[key].check(spec.name, key, value)
    problem = spec.param_check(values) if spec.param_check else None
    if problem:
        raise ObjectiveError(f"{spec.name}: {problem}")
    return Objective(spec, values, validate=validate)


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value
