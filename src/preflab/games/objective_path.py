"""Any registered objective, trained on a tabular game: a softmax policy over the N responses of one prompt.

The policy is ``pi = softmax(theta)`` with ``theta`` a float64 torch parameter; each response is one token
(``lengths = 1``), so its summed and its averaged log-probability are both ``log pi[y]`` and every per-token
field is that one value. Each step builds a :class:`~preflab.objectives.ScoreBatch` the objective can read:

- ``data="pairs"``: y ~ q and y' ~ q' (q = ref offline, the current policy online; q' = q, or online the
  geometric mixture ``pi^(1-m) ref^m`` when ``mixture`` m > 0, as Nash-MD draws its opponent), in slots 0
  and 1 in the order drawn; a Bernoulli(P[y, y']) bit picks the chosen one (``ranks``);
- ``data="lists"``: ``list_size`` responses drawn from q (4 by default), ranked by their win rates
  (``rewards``, rank 0 best);
- ``data="samples"``: unpaired feedback, a drawn pair split into a desirable (+1, the Bernoulli winner) and an
  undesirable (-1) response (``labels``), the way paired data is unpaired for KTO-style objectives.

Every batch also carries ``prefs[b, i, j] = P[y_i, y_j]`` (the oracle's probabilities), ``rewards = P(y > q)``
(win rate against the sampling policy), ``ref_logps``, the per-token fields (``token_logps`` [B, K, 1],
``token_log_sq_mass = log sum_v pi(v)^2``, exact here), ``opponent_logps`` (the policy at the start of the
last ``opponents`` rounds of ``sync`` steps) and, for unpaired data, the mismatched-pair KL fields of KTO
(the next row's response). Objectives that need what a one-prompt softmax policy does not have (further
reference models, a value head) are refused with a ValueError that says so.

``exact=True`` replaces sampling by enumeration: every pair with both label outcomes, or every list (of 2 by
default; at most 100,000 lists), weighted by its probability, and the loss ``sum_b w_b per_example_b``: the
population loss of per-example objectives (objectives built on batch statistics see the whole support as
one batch).

>>> from preflab.games import random_preference, regularized_nash, duality_gap
>>> P = random_preference(6, seed=0)
>>> traj = train_objective(P, "ipo", beta=0.2, online=True, exact=True, iterations=400, every=400)
>>> bool(traj.gaps[-1] < 1e-3)
True
"""

from __future__ import annotations

import inspect
import itertools
import math
from contextlib import contextmanager
from typing import Optional

import numpy as np
import torch

from preflab.objectives import ScoreBatch, get_objective
from preflab.objectives.registry import CompositeObjective

from .dynamics import Algorithm, AlgorithmTable, Hyper, normalize
from .preferences import check_policy, check_preference
from .trajectory import Trajectory

__all__ = ["train_objective", "objective_algorithm", "DATA"]

DATA = ("pairs", "lists", "samples")
MAX_ROWS = 100_000

# what a one-prompt softmax policy cannot supply, and why
_UNSUPPORTED = {
    "extra_ref_logps": "log-probs under further reference models (MRPO's references, Pre-DPO's guiding model), "
                       "which a tabular game with one reference does not have",
    "values": "a value head's V(x) (DRO), which a softmax policy over the responses does not have",
}

# objectives whose `beta` is not the KL weight toward ref, and how the game's beta maps onto them instead
_BETA_MAP = {
    "inpo": lambda beta: {"tau": beta, "eta": 3 * beta},          # INPO: tau = beta, the paper's eta = 3 tau
    "mnpo": lambda beta: {"eta": 3 * beta, "ratio": 1 / 3},       # fixed point needs ratio * eta = beta
    "sppo": lambda beta: {},                                      # beta is 1 / step size (no ref anchor)
    "dno": lambda beta: {},                                       # beta is DNO's eta toward pi_t
}
_OPTIMIZERS = ("adam", "rmsprop", "sgd")

# objectives whose reference is the policy at the start of the round (SPPO's convention)
_ROUND_REFERENCE = {"sppo"}


def _terms(objective):
    return [o for _, o in objective.terms] if isinstance(objective, CompositeObjective) else [objective]


def _needs(objective) -> set:
    out = set()
    for term in _terms(objective):
        for need in term.spec.requires:
            out.update(need if isinstance(need, tuple) else (need,))
    return out


def _specs(name: str) -> list:
    """The registry specs of a plain or weighted-sum (``"dpo + 0.2*sft"``) objective name."""
    return [term.spec for term in _terms(get_objective(name))]


def _default_data(spec) -> str:
    if spec.data == "unpaired":
        return "samples"
    if spec.data in ("listwise", "policy_gradient") or (spec.data == "online" and not spec.pair):
        return "lists"
    return "pairs"


def _objective_hypers(specs: list) -> dict:
    """train_objective's knobs, then the objective's own hyperparameters; an objective's ``beta`` is named
    ``<objective>.beta`` because ``beta`` is the game's (which it receives where it is a KL weight)."""
    first = specs[0]
    hypers = {
        "lr": Hyper(0.01, "learning rate of the optimizer on the logits theta"),
        "optimizer": Hyper(None, "adam, rmsprop or sgd (plain gradient descent: its exact steps are the closed-form "
                                 "dynamics' gradient steps); None: adam offline (a fixed loss, which Adam minimizes), "
                                 "rmsprop online (a game, around whose equilibrium Adam's momentum cycles)",
                           "choice", _OPTIMIZERS),
        "data": Hyper(_default_data(first), "pairs, lists or samples (unpaired labels)", "choice", DATA),
        "online": Hyper(first.data in ("online", "policy_gradient"),
                        "draw from the current policy (True) or from ref (False)", "choice", (True, False)),
        "list_size": Hyper(None, "responses per list (data='lists'); None: 4 sampled, 2 exact (exact enumerates "
                                 "all N^list_size lists)", "count"),
        "sync": Hyper(1, "steps per round: opponents and a round reference are the policy at a round's start", "count"),
        "opponents": Hyper(2 if first.name == "mnpo" else 1, "M: how many past round-start policies fill "
                                                              "opponent_logps", "count"),
        "mixture": Hyper(0.0, "online pairs: y' from pi^(1-m) ref^m (Nash-MD's opponent)", "unit"),
        "sample_from": Hyper("step", "online draws from the policy at every step (step) or from the policy at the "
                                     "round's start (round: a round's data is generated once, as the iterative "
                                     "INPO / MNPO loops do; with sync steps a round ends at the minimizer of the "
                                     "loss on that data)", "choice", ("step", "round")),
        "reference": Hyper("round" if first.name in _ROUND_REFERENCE else "fixed",
                           "ref_logps from ref (fixed) or from the policy at the round's start (round: SPPO, "
                           "iterative DPO)", "choice", ("fixed", "round")),
    }
    for spec in specs:
        for key, param in spec.params.items():
            key = f"{spec.name}.beta" if key == "beta" else key
            hypers.setdefault(key, Hyper(param.default, f"{spec.name}: {param.help}", "any"))
    return hypers


def objective_algorithm(name: str) -> Algorithm:
    """The :class:`~preflab.games.dynamics.Algorithm` entry ``objective:<name>`` (for ``run_dynamics`` and the
    CLI); its ``defaults`` are :func:`train_objective`'s knobs plus the objective's hyperparameters."""
    specs = _specs(name)
    missing = [f"{s.name} needs {_UNSUPPORTED[f]}" for s in specs for f in s.requires if f in _UNSUPPORTED]
    reg = any(s.needs_reference or "ref_token_logps" in s.requires for s in specs)
    target = ("unsupported: " + "; ".join(missing)) if missing else \
        "the objective's own fixed point on the game (online IPO / Nash regressions: the regularized equilibrium)"
    return Algorithm(name=AlgorithmTable.PREFIX + name, summary=f"{name} trained by gradient steps on a softmax "
                     f"policy: {specs[0].summary}", hypers=_objective_hypers(specs), regularized=reg, averaged=False,
                     target=target, run=None, default_iterations=1000, paper=specs[0].paper, arxiv=specs[0].arxiv,
                     doc="\n\n".join(inspect.cleandoc(s.fn.__doc__ or "") for s in specs))


# --------------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------------

def _draw_rows(P, q0, q1, data, K, exact, batch, rng):
    """Response indices [B, K], row weights [B] (exact) or None, and the chosen-first bits [B] (pairs)."""
    n = P.shape[0]
    if data == "lists":
        if exact:
            if n ** K > MAX_ROWS:
                raise ValueError(f"exact lists enumerate N^list_size = {n}^{K} lists, more than {MAX_ROWS}; "
                                 "use sampled batches or a smaller list_size")
            idx = np.array(list(itertools.product(range(n), repeat=K)))
            return idx, np.prod(q0[idx], axis=1), None
        return rng.choice(n, size=(batch, K), p=q0), None, None
    if exact:
        a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        a, b = np.tile(a.ravel(), 2), np.tile(b.ravel(), 2)
        bits = np.repeat([True, False], n * n)
        w = q0[a] * q1[b] * np.where(bits, P[a, b], P[b, a])
        keep = w > 0
        return np.stack([a, b], 1)[keep], w[keep], bits[keep]
    y, y2 = rng.choice(n, size=batch, p=q0), rng.choice(n, size=batch, p=q1)
    return np.stack([y, y2], 1), None, rng.random(batch) < P[y, y2]


def _score_batch(P, logp, ref_log, opp_logs, idx, bits, q0, data, needs) -> ScoreBatch:
    """The ScoreBatch of rows ``idx`` [B, K] under the policy's log-probs ``logp`` (a torch vector with grad)."""
    B, K = idx.shape
    t = torch.as_tensor(idx)
    pol = logp[t]
    win = P @ q0
    fields = dict(policy_logps=pol, ref_logps=torch.as_tensor(ref_log[idx]),
                  lengths=torch.ones(B, K, dtype=torch.long),
                  rewards=torch.as_tensor(win[idx]),
                  prefs=torch.as_tensor(P[idx[:, :, None], idx[:, None, :]]))
    if data == "lists":
        better = win[idx][:, None, :] > win[idx][:, :, None]          # [B, K, K]: j beats i
        fields["ranks"] = torch.as_tensor(better.sum(-1))
    else:
        first = torch.as_tensor(bits)
        fields["ranks"] = torch.stack([(~first).long(), first.long()], 1)
        if data == "samples":
            fields["labels"] = torch.stack([torch.where(first, 1, -1), torch.where(first, -1, 1)], 1)
            nxt = np.roll(idx[:, 0], -1)
            fields["kl_policy_logps"] = logp[torch.as_tensor(nxt)]
            fields["kl_ref_logps"] = torch.as_tensor(ref_log[nxt])
    if needs & {"token_logps", "ref_token_logps", "token_log_sq_mass", "token_mask"}:
        fields.update(token_logps=pol[..., None], token_mask=torch.ones(B, K, 1, dtype=torch.bool),
                      ref_token_logps=fields["ref_logps"][..., None],
                      token_log_sq_mass=torch.logsumexp(2 * logp.detach(), 0).expand(B, K, 1))
    if opp_logs:
        fields["opponent_logps"] = torch.as_tensor(np.stack([o[idx] for o in opp_logs], -1))
    return ScoreBatch(**fields)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------

class _Optimizer:
    """torch.optim's SGD, RMSprop and Adam update rules with their default constants, on the one logits
    vector (written out because torch.optim's first use imports torch._dynamo, seconds on a small CPU):

        sgd:      theta -= lr g
        rmsprop:  v = 0.99 v + 0.01 g^2;                    theta -= lr g / (sqrt(v) + 1e-8)
        adam:     m = 0.9 m + 0.1 g;  v = 0.999 v + 0.001 g^2;
                  theta -= lr (m / (1 - 0.9^t)) / (sqrt(v / (1 - 0.999^t)) + 1e-8)
    """

    def __init__(self, kind: str, lr: float):
        self.kind, self.lr, self.t = kind, lr, 0
        self.m = self.v = 0.0

    def step(self, theta: torch.Tensor) -> None:
        g = theta.grad
        self.t += 1
        with torch.no_grad():
            if self.kind == "sgd":
                theta -= self.lr * g
            elif self.kind == "rmsprop":
                self.v = 0.99 * self.v + 0.01 * g * g
                theta -= self.lr * g / (self.v.sqrt() + 1e-8)
            else:
                self.m = 0.9 * self.m + 0.1 * g
                self.v = 0.999 * self.v + 0.001 * g * g
                theta -= self.lr * (self.m / (1 - 0.9 ** self.t)) / ((self.v / (1 - 0.999 ** self.t)).sqrt() + 1e-8)
        theta.grad = None


@contextmanager
def _one_thread():
    """Run torch on one thread (the caller's setting is restored): these tensors have a few dozen entries,
    and on a busy machine two OpenMP threads waiting on each other make each op ~100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_objective(P, objective: str, beta: float, ref=None, *, data: Optional[str] = None,
                    online: Optional[bool] = None, iterations: int = 1000, lr: Optional[float] = None,
                    optimizer: Optional[str] = None, batch: int = 64, list_size: Optional[int] = None,
                    exact: bool = False, seed: int = 0, init=None, every: int = 1, callback=None,
                    sync: Optional[int] = None, opponents: Optional[int] = None, mixture: Optional[float] = None,
                    reference: Optional[str] = None, sample_from: Optional[str] = None, **params) -> Trajectory:
    """Train ``pi = softmax(theta)`` on the game (P, beta, ref) with a registered objective; return its path.

    ``objective`` is a registry name (or a weighted sum such as ``"dpo + 0.2*sft"``) and ``**params`` its
    hyperparameters, an objective's own ``beta`` written ``<objective>.beta``. The game's ``beta`` becomes
    the objective's where that is a KL weight toward ref; for ``inpo`` tau = beta and eta = 3 beta, for
    ``mnpo`` eta = 3 beta and ratio 1/3 (so that the fixed point is the beta-regularized equilibrium), and
    ``sppo`` and ``dno`` keep their own (a step size there). ``data`` and ``online`` default to what the
    registry entry declares (pairwise: offline pairs; listwise: lists; unpaired: samples; online and
    policy-gradient: on-policy). Each step uses ``batch`` rows drawn with ``numpy.random.default_rng(seed)``,
    or every row with its probability when ``exact``. ``sync`` steps make a round: ``opponent_logps`` holds
    the policies at the start of the last ``opponents`` rounds, and ``reference="round"`` puts the
    round-start policy in ``ref_logps`` (SPPO's convention, its default; with ``dpo`` and ``online=True``
    that is iterative DPO); ``sample_from="round"`` draws a round's online data from its round-start policy
    (the iterative loops' data, generated once per round) instead of the current one. ``None`` knobs take the defaults of ``ALGORITHMS["objective:<name>"]``.
    """
    P = check_preference(P)
    n = P.shape[0]
    ref = np.full(n, 1.0 / n) if ref is None else check_policy(ref, n, "ref")
    init = ref.copy() if init is None else check_policy(init, n, "init")
    if np.any(ref <= 0) or np.any(init <= 0):
        raise ValueError("ref and init must give every response positive probability (log-probs must be finite)")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    for key, value, low in (("iterations", iterations, 0), ("batch", batch, 1), ("every", every, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{key} must be an integer >= {low}, got {value!r}")
    specs = _specs(objective)
    for spec in specs:
        for need in spec.requires:
            if need in _UNSUPPORTED:
                raise ValueError(f"objective '{spec.name}' needs ScoreBatch.{need}: {_UNSUPPORTED[need]}; "
                                 "train it with preflab train on a model instead")
    algo = objective_algorithm(objective)
    given = dict(data=data, online=online, lr=lr, optimizer=optimizer, list_size=list_size, sync=sync,
                 opponents=opponents, mixture=mixture, reference=reference, sample_from=sample_from)
    knobs = algo.resolve({k: v for k, v in given.items() if v is not None})
    knobs["optimizer"] = knobs["optimizer"] or ("rmsprop" if knobs["online"] else "adam")
    knobs["list_size"] = knobs["list_size"] or (2 if exact else 4)
    algo.resolve(params)                                    # an unknown name raises, naming the nearest
    hparams = {}
    for spec in specs:
        if "beta" in spec.params:
            hparams.update(_BETA_MAP[spec.name](beta) if spec.name in _BETA_MAP else {"beta": float(beta)})
    for key, value in params.items():                       # "<objective>.beta" is a plain objective's "beta"
        hparams[key.split(".", 1)[1] if len(specs) == 1 and "." in key else key] = value
    obj = get_objective(objective, **hparams)
    with _one_thread():
        iterates = _train(P, ref, init, obj, knobs, iterations, batch, exact, seed, callback)
    record = {**knobs, **_hparams(obj), "batch": None if exact else batch, "seed": None if exact else seed,
              "exact": exact}
    return Trajectory.record(algo.name, P, beta, ref, iterates, every=every, params=record, sampled=not exact)


def _train(P, ref, init, obj, knobs, iterations, batch, exact, seed, callback) -> list:
    """The training loop; returns the policy after each step (the start first)."""
    data, online = knobs["data"], knobs["online"]
    K = knobs["list_size"] if data == "lists" else 2
    needs = _needs(obj)
    rng = np.random.default_rng(seed)
    theta = torch.tensor(np.log(init), dtype=torch.float64, requires_grad=True)
    opt = _Optimizer(knobs["optimizer"], knobs["lr"])
    log_ref = np.log(ref)
    rounds = [np.log(init)]                 # round-start log-policies, most recent first
    iterates = [init]
    for t in range(1, iterations + 1):
        with torch.no_grad():
            log_pi = torch.log_softmax(theta, 0).numpy()
        if knobs["sample_from"] == "round":
            log_pi = rounds[0]
        pi = np.exp(log_pi)
        q0 = pi if online else ref
        m = knobs["mixture"] if online else 0.0
        q1 = np.exp(normalize((1 - m) * log_pi + m * log_ref)) if m > 0 else q0
        idx, weights, bits = _draw_rows(P, q0, q1, data, K, exact, batch, rng)
        opp = []
        if "opponent_logps" in needs:        # the last M round starts; the oldest repeats until M rounds exist
            opp = [rounds[min(j, len(rounds) - 1)] for j in range(knobs["opponents"])]
        ref_log = rounds[0] if knobs["reference"] == "round" else log_ref
        logp = torch.log_softmax(theta, 0)
        out = obj(_score_batch(P, logp, ref_log, opp, idx, bits, q0, data, needs))
        for term in _terms(obj):             # every batch has the first one's fields: check it only
            term.validate = False
        loss = out.loss if weights is None else (torch.as_tensor(weights) * out.per_example).sum()
        if not loss.requires_grad:
            raise ValueError(f"objective '{obj.name}' returned a loss with no gradient on this game's batch")
        loss.backward()
        opt.step(theta)
        with torch.no_grad():
            new = torch.log_softmax(theta, 0).numpy()
        if not np.all(np.isfinite(new)):
            raise ValueError(f"objective '{obj.name}' diverged at step {t} (non-finite logits); lower lr")
        if t % knobs["sync"] == 0:
            rounds = ([new.copy()] + rounds)[:knobs["opponents"]]
        iterates.append(np.exp(new))
        if callback is not None:
            callback(t)
    return iterates


def _hparams(objective) -> dict:
    """The bound hyperparameters of an objective (per term for a weighted sum)."""
    if isinstance(objective, CompositeObjective):
        return {f"{o.name}.{k}": v for _, o in objective.terms for k, v in o.hparams.items()}
    return dict(objective.hparams)
