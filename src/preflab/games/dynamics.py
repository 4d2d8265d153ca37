"""The dynamics of preference-optimization algorithms on an exact tabular game, exact or sampled.

A policy is a distribution pi over the N responses of one prompt; the game is a preference matrix
``P[i, j] = Pr(i preferred to j)``, a regularization ``beta`` and a reference ``ref`` (uniform by default).
Every algorithm is the tabular form of its paper's update, and :func:`run_dynamics` returns its path as a
:class:`~preflab.games.trajectory.Trajectory` (iterates, running average, exact duality gaps).

Notation, shared by every docstring below: ``r_t(y) = P(y > pi_t) = (P pi_t)[y]`` is the win rate of
response y against the current policy, ``h(y) = log pi(y) - log ref(y)``, and ``∝`` means "normalized
over the N responses". ``exact`` (``sampled=False``) uses expectations over all N responses;
``sampled=True`` draws ``samples`` responses per step from a numpy Generator seeded by ``seed`` and asks
the oracle for preference bits ``Bernoulli(P[y, y'])``. Where an algorithm needs r_t(y) for every y, the
sampled form draws ``samples`` opponents y'_s ~ pi_t and compares **every** response with each of them
(N x samples bits): ``r^_t(y) = mean_s bit(y, y'_s)``, unbiased, and exact as samples grow.

Step sizes follow each paper's parametrization and are named as there; the defaults are tuned for the
games of the test suite (N = 10, beta = 0.1), and ``**hyper`` overrides them.

>>> import numpy as np
>>> from preflab.games import random_preference, regularized_nash, duality_gap
>>> P = random_preference(10, seed=0)
>>> traj = run_dynamics(P, "inpo", beta=0.1)
>>> bool(traj.gaps[-1] < 1e-8), bool(np.allclose(traj.last, regularized_nash(P, 0.1), atol=1e-6))
(True, True)
>>> run_dynamics(P, "inpoo", beta=0.1)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: unknown algorithm 'inpoo'; did you mean 'inpo'? (known: ...)
"""

from __future__ import annotations

import difflib
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

import numpy as np
from scipy.special import expit

from .preferences import check_policy, check_preference
from .trajectory import Trajectory

__all__ = ["Algorithm", "Hyper", "Game", "ALGORITHMS", "get_algorithm", "run_dynamics"]


# --------------------------------------------------------------------------------------------------
# Hyperparameters and the registry
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: its default, its meaning, and its domain: ``positive`` (> 0), ``unit``
    ([0, 1]), ``count`` (integer >= 1), ``choice`` (one of ``choices``), ``weights`` (non-negative
    numbers with a positive sum), ``policies`` (an [M, N] array of distributions) or ``any`` (checked by
    its owner: an objective's hyperparameters). A default of None
    means "derived" and the help says from what."""

    default: Any
    help: str
    domain: str = "positive"
    choices: tuple = ()

    def check(self, algorithm: str, name: str, value: Any) -> Any:
        if value is None and self.default is None:
            return None
        where = f"{algorithm}: {name}={value!r}"
        if self.domain == "any":             # checked by its owner (an objective's own Param)
            return value
        if self.domain == "choice":
            if value not in self.choices:
                raise ValueError(f"{where} is not one of {list(self.choices)}")
            return value
        if self.domain == "weights":
            w = np.asarray(value, dtype=np.float64)
            if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise ValueError(f"{where}: weights must be a list of non-negative numbers with a positive sum")
            return w
        if self.domain == "policies":
            return np.atleast_2d(np.asarray(value, dtype=np.float64))
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{where} must be a number")
        if not math.isfinite(value):
            raise ValueError(f"{where} must be finite")
        if self.domain == "count":
            if int(value) != value or value < 1:
                raise ValueError(f"{where} must be an integer >= 1")
            return int(value)
        if self.domain == "unit" and not 0 <= value <= 1:
            raise ValueError(f"{where} must lie in [0, 1]")
        if self.domain == "positive" and not value > 0:
            raise ValueError(f"{where} must be > 0")
        return float(value)


@dataclass(frozen=True)
class Algorithm:
    """One registered dynamic. ``regularized``: its last iterate (or average) targets the beta-regularized
    Nash equilibrium (True) or the unregularized game (False, beta only sets the gap it is measured at);
    ``averaged``: its guarantee is on the average iterate; ``target`` says in words where it goes; ``doc``
    is the paper, the update and what its exact and sampled forms are. ``run(game, log_pi0, **hyper)``
    yields the normalized log-policy after each iteration (None for the ``objective:<name>`` entries, which
    :func:`run_dynamics` hands to ``train_objective``)."""

    name: str
    summary: str
    hypers: dict
    regularized: bool
    averaged: bool
    target: str
    run: Optional[Callable[..., Iterator[np.ndarray]]]
    default_iterations: int
    paper: str = ""
    arxiv: str = ""
    doc: str = ""

    @property
    def defaults(self) -> dict:
        return {k: h.default for k, h in self.hypers.items()}

    def resolve(self, hyper: dict) -> dict:
        """The defaults with ``hyper`` applied, each value checked; unknown names raise a ValueError that
        names the nearest valid one."""
        values = self.defaults
        for key, value in hyper.items():
            if key not in self.hypers:
                near = difflib.get_close_matches(key, list(self.hypers), n=1, cutoff=0.4)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                raise ValueError(f"{self.name} has no hyperparameter '{key}'{hint} "
                                 f"(it takes: {', '.join(self.hypers) or 'none'})")
            values[key] = self.hypers[key].check(self.name, key, value)
        return values


class AlgorithmTable(dict):
    """``name -> Algorithm``. Iterating lists the built-in dynamics; ``"objective:<name>"`` is answered for
    any objective of :mod:`preflab.objectives` (built when asked for, so that importing this module does
    not import torch); :meth:`objective_names` lists those."""

    PREFIX = "objective:"

    def __missing__(self, key):
        if isinstance(key, str) and key.startswith(self.PREFIX):
            from .objective_path import objective_algorithm
            return objective_algorithm(key[len(self.PREFIX):])
        raise KeyError(key)

    def __contains__(self, key):
        if dict.__contains__(self, key):
            return True
        try:
            self[key]
        except (KeyError, ValueError):
            return False
        return True

    def get(self, key, default=None):
        return self[key] if key in self else default

    def objective_names(self) -> list[str]:
        from preflab.objectives import list_objectives
        return [self.PREFIX + s.name for s in list_objectives()]


ALGORITHMS: AlgorithmTable = AlgorithmTable()


def algorithm(name: str, *, summary: str, iterations: int, regularized: bool, averaged: bool, target: str,
              paper: str, arxiv: str, hypers: Optional[dict] = None):
    """Register a dynamic (a generator function ``run(game, log_pi0, **hyper)``) under ``name``."""
    def decorate(fn):
        ALGORITHMS[name] = Algorithm(name=name, summary=summary, hypers=dict(hypers or {}), regularized=regularized,
                                     averaged=averaged, target=target, run=fn, default_iterations=iterations,
                                     paper=paper, arxiv=arxiv, doc=inspect.cleandoc(fn.__doc__ or ""))
        return fn
    return decorate


# --------------------------------------------------------------------------------------------------
# What an algorithm sees
# --------------------------------------------------------------------------------------------------

def normalize(log_pi: np.ndarray) -> np.ndarray:
    """Log-probabilities shifted so that they sum to 1 in probability."""
    top = log_pi.max()
    return log_pi - (top + np.log(np.exp(log_pi - top).sum()))


@dataclass
class Game:
    """The game, its regularization, and the oracle an algorithm may query: exact expectations, or
    ``samples`` draws per query from ``rng`` with Bernoulli(P) preference bits."""

    P: np.ndarray
    beta: float
    ref: np.ndarray
    sampled: bool = False
    samples: int = 16
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    def __post_init__(self):
        self.n = self.P.shape[0]
        self.log_ref = np.log(self.ref)

    def draw(self, pi: np.ndarray, size: int) -> np.ndarray:
        """``size`` responses drawn from pi."""
        return self.rng.choice(self.n, size=size, p=pi / pi.sum())

    def judge(self, y, y2) -> np.ndarray:
        """One preference bit per pair: 1.0 when y is preferred to y2, drawn as Bernoulli(P[y, y2])."""
        return (self.rng.random(np.shape(y)) < self.P[y, y2]).astype(np.float64)

    def round_robin(self, pi: np.ndarray):
        """``samples`` responses drawn from pi play each other once per pair (Bernoulli bits); returns the
        draws and each draw's number of wins (out of samples - 1)."""
        S = self.samples
        y = self.draw(pi, S)
        i, j = np.triu_indices(S, 1)
        bits = self.judge(y[i], y[j])
        return y, np.bincount(i, bits, S) + np.bincount(j, 1.0 - bits, S)

    def per_response(self, y: np.ndarray, values: np.ndarray, absent: float) -> np.ndarray:
        """The mean of ``values`` over the copies of each response among the draws y; ``absent`` where undrawn."""
        count = np.bincount(y, minlength=self.n)
        return np.where(count > 0, np.bincount(y, values, self.n) / np.maximum(count, 1), absent)

    def wins(self, pi: np.ndarray) -> np.ndarray:
        """r(y) = P(y > pi) for every response y: ``P @ pi`` exactly, or the fraction of Bernoulli wins of
        y against ``samples`` opponents drawn from pi (every response meets the same opponents)."""
        if not self.sampled:
            return self.P @ pi
        opponents = self.draw(pi, self.samples)
        ys = np.repeat(np.arange(self.n)[:, None], self.samples, axis=1)
        return self.judge(ys, np.broadcast_to(opponents, ys.shape)).mean(axis=1)

    def pair_weights(self, q: np.ndarray) -> np.ndarray:
        """W[a, b] = probability that a labelled pair has chosen a and rejected b when y, y' ~ q and the
        oracle prefers y with probability P[y, y']: ``2 q_a q_b P[a, b]`` (``q_a^2`` on the diagonal) exactly,
        or the empirical frequencies of ``samples`` drawn pairs."""
        if not self.sampled:
            W = 2.0 * np.outer(q, q) * self.P
            np.fill_diagonal(W, q * q)
            return W
        y, y2 = self.draw(q, self.samples), self.draw(q, self.samples)
        first = self.judge(y, y2) > 0
        chosen, rejected = np.where(first, y, y2), np.where(first, y2, y)
        W = np.zeros((self.n, self.n))
        np.add.at(W, (chosen, rejected), 1.0 / self.samples)
        return W


def _pair_grad(W: np.ndarray, w: np.ndarray, dloss: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Gradient in w of ``sum_ab W[a, b] loss(w_a - w_b)`` given ``dloss`` = loss'."""
    G = W * dloss(w[:, None] - w[None, :])
    return G.sum(axis=1) - G.sum(axis=0)


def _bt_dloss(d):                       # -log sigmoid(d): logistic (Bradley-Terry / DPO)
    return expit(d) - 1.0


def _ipo_dloss(d):                      # (d - 1/2)^2: IPO in implicit-reward units
    return 2.0 * (d - 0.5)


# --------------------------------------------------------------------------------------------------
# Offline: a reward model or a policy fitted to pairs drawn from the reference
# --------------------------------------------------------------------------------------------------

_FIT_LR = Hyper(1.0, "gradient step on the implicit reward r = beta log(pi / ref) (a step lr / beta^2 on the logits)")


@algorithm("rlhf_bt", summary="RLHF: Bradley-Terry reward fitted on pairs from ref, then pi ∝ ref exp(r / beta)",
           iterations=500, regularized=True, averaged=False,
           target="the KL-regularized optimum of the fitted BT reward; not a Nash equilibrium when P is not BT",
           paper="Training language models to follow instructions with human feedback (Ouyang et al.)",
           arxiv="2203.02155", hypers={"lr": _FIT_LR})
def rlhf_bt(game: Game, log_pi: np.ndarray, lr: float) -> Iterator[np.ndarray]:
    """RLHF with a Bradley-Terry reward model (Ouyang et al., arXiv 2203.02155; Christiano et al. 1706.03741).

    Iteration t is one gradient step of the reward fit; the policy is its exact KL-regularized optimum:

        r_{t+1} = r_t - lr grad_r sum_ab W[a, b] (-log sigmoid(r_a - r_b)),   pi_t ∝ ref exp(r_t / beta)

    with W the distribution of (chosen a, rejected b) pairs, y, y' ~ ref. Exact: W = 2 ref_a ref_b P[a, b]
    (the expected log-likelihood over ref x ref); sampled: a fixed set of ``samples`` pairs drawn once
    from ref and labelled by Bernoulli(P). The start r_0 = beta log(init / ref). In a tabular game this is
    step for step the same path as ``dpo`` (DPO's reparametrization r = beta h is exact here).
    """
    W = game.pair_weights(game.ref)
    r = game.beta * (log_pi - game.log_ref)
    while True:
        r = r - lr * _pair_grad(W, r, _bt_dloss)
        yield normalize(game.log_ref + r / game.beta)


@algorithm("dpo", summary="offline DPO: gradient descent on a softmax policy's logits over pairs drawn once from ref",
           iterations=500, regularized=True, averaged=False,
           target="the DPO optimum pi ∝ ref exp(r_BT / beta), r_BT the BT fit of P under ref x ref",
           paper="Direct Preference Optimization: Your Language Model is Secretly a Reward Model",
           arxiv="2305.18290", hypers={"lr": _FIT_LR})
def dpo(game: Game, log_pi: np.ndarray, lr: float) -> Iterator[np.ndarray]:
    """Offline DPO (Rafailov et al., arXiv 2305.18290, Eq. 7) on a softmax policy pi = softmax(theta).

        L(theta) = sum_ab W[a, b] (-log sigmoid(beta (h(a) - h(b)))),   h = log pi - log ref
        theta <- theta - (lr / beta^2) grad L

    (the step is on the implicit reward beta theta, so ``lr`` means the same for every beta). W is the
    pair distribution from ref: exact = 2 ref_a ref_b P[a, b], the infinite-data loss; sampled = a fixed
    set of ``samples`` pairs from ref x ref labelled once by Bernoulli(P) and reused at every step.
    """
    W = game.pair_weights(game.ref)
    theta = log_pi.copy()
    while True:
        # grad_theta L = beta grad_w L at the implicit reward w = beta (theta - log ref)
        grad = game.beta * _pair_grad(W, game.beta * (theta - game.log_ref), _bt_dloss)
        theta = theta - lr / game.beta ** 2 * grad
        yield normalize(theta)


@algorithm("ipo", summary="offline IPO: the squared loss (h_w - h_l - 1/(2 beta))^2 on pairs drawn once from ref",
           iterations=500, regularized=True, averaged=False,
           target="the IPO optimum pi ∝ ref exp(P(y > ref) / beta); not a Nash equilibrium",
           paper="A General Theoretical Paradigm to Understand Learning from Human Preferences",
           arxiv="2310.12036", hypers={"lr": Hyper(0.25, "gradient step on the implicit reward beta h (the "
                                                            "loss is IPO's times beta^2)")})
def ipo(game: Game, log_pi: np.ndarray, lr: float) -> Iterator[np.ndarray]:
    """Offline IPO (Azar et al., arXiv 2310.12036, Eq. 17) on a softmax policy pi = softmax(theta):

        L(theta) = sum_ab W[a, b] (beta (h(a) - h(b)) - 1/2)^2   (= beta^2 (h_w - h_l - 1/(2 beta))^2)
        theta <- theta - (lr / beta) grad_(beta h) L

    W as in ``dpo`` (exact: 2 ref_a ref_b P[a, b]; sampled: ``samples`` pairs drawn once). The exact
    minimizer is pi ∝ ref exp(P(y > ref) / beta) (IPO's Proposition), which the tests check.
    """
    W = game.pair_weights(game.ref)
    w = game.beta * (log_pi - game.log_ref)
    while True:
        w = w - lr * _pair_grad(W, w, _ipo_dloss)
        yield normalize(game.log_ref + w / game.beta)


# --------------------------------------------------------------------------------------------------
# Online regressions and policy gradients
# --------------------------------------------------------------------------------------------------

@algorithm("iterative_dpo",
           summary="iterative DPO: rounds of DPO on pairs from the current policy, reference = the round's start",
           iterations=100, regularized=False, averaged=False,
           target="no equilibrium: a DPO round is a soft step toward the BT winner of the current policy's pairs",
           paper="RLHF Workflow: From Reward Modeling to Online RLHF (Dong et al.); Self-Rewarding LMs (Yuan et al.)",
           arxiv="2405.07863",
           hypers={"lr": _FIT_LR, "inner_steps": Hyper(50, "gradient steps of the round's DPO fit", "count"),
                   "dpo_beta": Hyper(0.1, "DPO's beta: the KL weight toward the round-start policy (a step size "
                                          "1 / dpo_beta; the game's beta only sets the measured gap)")})
def iterative_dpo(game: Game, log_pi: np.ndarray, lr: float, inner_steps: int, dpo_beta: float) -> Iterator[np.ndarray]:
    """Iterative (online) DPO (Xiong et al. 2312.11456; Dong et al. 2405.07863): each iteration is one round.

    Pairs come from the round-start policy pi_t and are labelled by P; DPO (its own ``dpo_beta``) is then
    run for ``inner_steps`` gradient steps on the implicit reward w (from w = 0) with **pi_t as the
    reference** (the usual choice: the reference is reset to the last round's policy), and the round ends at

        pi_{t+1} ∝ pi_t exp(w / dpo_beta),   w ≈ argmin_w sum_ab W_t[a, b] (-log sigmoid(w_a - w_b))

    Exact: W_t = 2 pi_t(a) pi_t(b) P[a, b]; sampled: ``samples`` fresh pairs from pi_t per round. Nothing
    anchors it to ref, so it has no Nash fixed point: a round is a step of size 1/dpo_beta toward the BT
    winner of the current policy's pairs, and it collapses (on a BT game, onto the best response).
    """
    while True:
        W = game.pair_weights(np.exp(log_pi))
        w = np.zeros(game.n)
        for _ in range(inner_steps):
            w = w - lr * _pair_grad(W, w, _bt_dloss)
        log_pi = normalize(log_pi + w / dpo_beta)
        yield log_pi


@algorithm("online_ipo",
           summary="online IPO: the IPO loss on pairs from the current policy (stop-gradient sampling), SGD on logits",
           iterations=2000, regularized=True, averaged=False,
           target="the beta-regularized Nash equilibrium (last iterate)",
           paper="Human Alignment of Large Language Models through Online Preference Optimisation",
           arxiv="2403.08635", hypers={"lr": Hyper(0.05, "gradient step on the logits (EGPO's tabular lr is 2x this: "
                                                            "its loss carries a factor 1/2)")})
def online_ipo(game: Game, log_pi: np.ndarray, lr: float) -> Iterator[np.ndarray]:
    """Online IPO (Calandriello et al., arXiv 2403.08635): y, y' ~ sg(pi_theta), p = P(y > y'),

        L(theta) = E[(h(y) - h(y') - (p - 1/2) / beta)^2],   theta <- theta - lr grad L

    Exact: the expected gradient ``grad_k = 4 pi_k (h_k - E_pi h - (r_t(k) - 1/2) / beta)``; sampled:
    ``samples`` pairs from pi_t with Bernoulli(P) bits in place of p. Its fixed point is
    beta h = r + const, the regularized Nash equilibrium (online IPO = IPO-MD, Nash-MD's family).
    """
    theta = log_pi.copy()
    while True:
        pi = np.exp(log_pi)
        h = log_pi - game.log_ref
        if game.sampled:
            y, y2 = game.draw(pi, game.samples), game.draw(pi, game.samples)
            d = 2.0 * (h[y] - h[y2] - (game.judge(y, y2) - 0.5) / game.beta) / game.samples
            grad = np.bincount(y, d, game.n) - np.bincount(y2, d, game.n)
        else:
            grad = 4.0 * pi * (h - pi @ h - (game.P @ pi - 0.5) / game.beta)
        theta = theta - lr * grad
        log_pi = normalize(theta)
        yield log_pi


@algorithm("nash_md",
           summary="Nash-MD: closed-form mirror descent against the mixture pi_t^(1-eta beta) ref^(eta beta)",
           iterations=2000, regularized=True, averaged=False,
           target="the beta-regularized Nash equilibrium (last iterate)",
           paper="Nash Learning from Human Feedback", arxiv="2312.00886",
           hypers={"eta": Hyper(None, "step size; None: eta_t = 2 / (beta (t + 2)), the schedule of NLHF's "
                                      "KL(pi*, pi_T) <= 8 / (beta^2 (T + 1)); a number: constant", "positive"),
                   "mixture": Hyper(None, "weight m of ref in the opponent pi_t^(1-m) ref^m; None: eta_t beta "
                                          "(NLHF)", "unit")})
def nash_md(game: Game, log_pi: np.ndarray, eta: Optional[float], mixture: Optional[float]) -> Iterator[np.ndarray]:
    """Nash-MD (Munos et al., arXiv 2312.00886, Sec. 6), tabular closed form:

        pi_t^mu ∝ pi_t^(1 - m) ref^m                                      (m = eta_t beta by default)
        log pi_{t+1} = (1 - eta_t beta) log pi_t + eta_t beta log ref + eta_t P(y > pi_t^mu) + c

    with eta_t = 2 / (beta (t + 2)) (the schedule of the paper's last-iterate bound) unless ``eta`` fixes
    it. With a constant eta and m = eta beta the fixed point solves beta h = P pi^mu: biased away from the
    equilibrium by O(eta) (the mixture differs from pi), which the decreasing schedule removes.
    Exact: P(y > pi_t^mu) = P pi_t^mu; sampled: estimated against ``samples`` draws from pi_t^mu.
    """
    t = 0
    while True:
        eta_t = 2.0 / (game.beta * (t + 2)) if eta is None else eta
        c = eta_t * game.beta
        if c > 1:
            raise ValueError(f"nash_md: eta * beta = {c:.3g} > 1 puts a negative weight on pi_t; use eta <= 1 / beta")
        m = c if mixture is None else mixture
        mix = np.exp(normalize((1 - m) * log_pi + m * game.log_ref))
        log_pi = normalize((1 - c) * log_pi + c * game.log_ref + eta_t * game.wins(mix))
        t += 1
        yield log_pi


@algorithm("nash_md_pg",
           summary="Nash-MD-PG: policy gradient on logits, y ~ pi, y' ~ pi^(1-m) ref^m, reward P(y > y') - beta h(y)",
           iterations=2000, regularized=True, averaged=False,
           target="the beta-regularized Nash equilibrium when mixture = 0; with m > 0 a nearby point (the "
                  "opponent is the mixture)",
           paper="Nash Learning from Human Feedback", arxiv="2312.00886",
           hypers={"lr": Hyper(2.0, "gradient step on the logits"),
                   "mixture": Hyper(0.0, "weight m of ref in the opponent's geometric mixture (NLHF: 0.125-0.375 "
                                         "for LLMs; TRL: 0.5)", "unit")})
def nash_md_pg(game: Game, log_pi: np.ndarray, lr: float, mixture: float) -> Iterator[np.ndarray]:
    """Nash-MD-PG (Munos et al., arXiv 2312.00886, Sec. 7; TRL ``NashMDTrainer``): ascend on the logits

        g = E_{y ~ pi, y' ~ pi^mu}[(P(y > y') - 1/2 - beta log(pi(y) / ref(y))) grad log pi(y)],
        pi^mu ∝ pi^(1 - m) ref^m,   theta <- theta + lr g

    Exact: ``g = pi * (a - E_pi a)`` with ``a = P pi^mu - beta h``; sampled: REINFORCE over ``samples``
    pairs (y, y') with Bernoulli(P) bits. Its fixed point is beta h = P pi^mu + c: the regularized
    equilibrium for m = 0.
    """
    theta = log_pi.copy()
    while True:
        pi = np.exp(log_pi)
        h = log_pi - game.log_ref
        mix = np.exp(normalize((1 - mixture) * log_pi + mixture * game.log_ref))
        if game.sampled:
            y, y2 = game.draw(pi, game.samples), game.draw(mix, game.samples)
            adv = game.judge(y, y2) - 0.5 - game.beta * h[y]
            grad = np.bincount(y, adv, game.n) / game.samples - pi * adv.mean()
        else:
            a = game.P @ mix - game.beta * h
            grad = pi * (a - pi @ a)
        theta = theta + lr * grad
        log_pi = normalize(theta)
        yield log_pi


# --------------------------------------------------------------------------------------------------
# Closed-form mirror-descent updates
# --------------------------------------------------------------------------------------------------

def _inpo_ratio(algo: str, game: Game, eta: float) -> float:
    """tau / eta with tau = beta: the weight of ref, which must lie in [0, 1]."""
    if game.beta > eta:
        raise ValueError(f"{algo}: eta={eta} < beta={game.beta}: the weight tau/eta = beta/eta on ref must be <= 1; "
                         "use eta >= beta")
    return game.beta / eta


_INPO_ETA = Hyper(1.0, "INPO's eta: the KL weight toward pi_t, so 1/eta is the step on win rates; the weight of ref "
                       "is beta/eta (must be <= 1). The paper's eta = 3 beta (0.3 at beta 0.1) cycles on the "
                       "cyclic game")


@algorithm("inpo",
           summary="INPO: pi_{t+1} ∝ exp(P(y > pi_t)/eta) ref^(beta/eta) pi_t^(1 - beta/eta) (its regression's solution)",
           iterations=300, regularized=True, averaged=False,
           target="the beta-regularized Nash equilibrium (last iterate)",
           paper="Iterative Nash Policy Optimization: Aligning LLMs with General Preferences via No-Regret Learning",
           arxiv="2407.00617", hypers={"eta": _INPO_ETA})
def inpo(game: Game, log_pi: np.ndarray, eta: float) -> Iterator[np.ndarray]:
    """INPO (Zhang et al., arXiv 2407.00617, Eq. 5), with tau = beta:

        pi_{t+1}(y) ∝ exp(P(y > pi_t) / eta) ref(y)^(tau/eta) pi_t(y)^(1 - tau/eta)

    the exact minimizer of its regression loss (Eq. 8) on pairs from pi_t labelled by P. The fixed point
    is beta h = P pi + c, the regularized equilibrium. Exact: P(y > pi_t) = P pi_t; sampled: estimated
    against ``samples`` opponents drawn from pi_t.
    """
    c = _inpo_ratio("inpo", game, eta)
    while True:
        log_pi = normalize(game.wins(np.exp(log_pi)) / eta + c * game.log_ref + (1 - c) * log_pi)
        yield log_pi


_MNPO_HYPERS = {
    "eta": _INPO_ETA,
    "history": Hyper(2, "opponents = the last `history` iterates pi_t, pi_{t-1}, ... (TD-MNPO; the code's "
                        "max_history_t = 2); 1 is INPO", "count"),
    "weights": Hyper(None, "lambda_j of the opponents, most recent first (normalized over those present); None: "
                           "uniform", "weights"),
    "population": Hyper(None, "an [M, N] array of fixed opponent policies (EO-MNPO) used instead of past iterates",
                        "policies"),
}


def _mnpo_steps(name: str, game: Game, log_pi: np.ndarray, eta: float, history: int, weights, population,
                against_sampler: bool) -> Iterator[np.ndarray]:
    """The two MNPO updates: the anchor ``c log ref + (1 - c) sum_j lambda_j log pi_j`` is common; the win
    rate is against the sampling policy pi_t (``against_sampler``, the regression's minimizer) or the
    weighted win rate against the opponents (Eq. 10)."""
    c = _inpo_ratio(name, game, eta)
    if population is not None:
        population = np.stack([check_policy(q, game.n, f"{name} population[{k}]") for k, q in enumerate(population)])
        if np.any(population <= 0):
            raise ValueError(f"{name}: every population policy must give every response positive probability "
                             "(the update takes its logarithm)")
    size = len(population) if population is not None else history
    if weights is not None and len(weights) != size:
        raise ValueError(f"{name}: {len(weights)} weights for {size} opponents (history or population size)")
    past = [log_pi]
    while True:
        opponents = list(np.log(population)) if population is not None else past
        lam = np.ones(len(opponents)) if weights is None else np.asarray(weights[:len(opponents)], dtype=np.float64)
        lam = lam / lam.sum()
        geo = sum(l * o for l, o in zip(lam, opponents))
        if against_sampler:
            win = game.wins(np.exp(log_pi))
        else:
            win = sum(l * game.wins(np.exp(o)) for l, o in zip(lam, opponents))
        log_pi = normalize(c * game.log_ref + (1 - c) * geo + win / eta)
        past = [log_pi] + past[:history - 1]
        yield log_pi


_MNPO_META = dict(iterations=300, regularized=True, averaged=False,
                  target="the beta-regularized Nash equilibrium (last iterate) with past iterates as opponents; "
                         "a fixed point against the population otherwise",
                  paper="Multiplayer Nash Preference Optimization", arxiv="2509.23102", hypers=_MNPO_HYPERS)


@algorithm("mnpo",
           summary="MNPO: geometric mean of the opponents (past iterates or a population) x exp(win rate vs pi_t / "
                   "eta): its regression's minimizer", **_MNPO_META)
def mnpo(game: Game, log_pi: np.ndarray, eta: float, history: int, weights, population) -> Iterator[np.ndarray]:
    """MNPO (Multiplayer Nash Preference Optimization, arXiv 2509.23102, the regression of Eq. 13-15 with the
    released code's reference term, ``smiles724/MNPO``): with opponents pi_j, weights lambda_j (sum 1),
    tau = beta and r = tau/eta, the loss on pairs y, y' ~ pi_t (the policy that samples) labelled by P,

        E[(h_t(pi, y_w, y_l) - 1/(2 eta))^2],
        h_t(pi, y, y') = log pi(y)/pi(y') - r log ref(y)/ref(y') - (1 - r) sum_j lambda_j log pi_j(y)/pi_j(y')

    is exactly minimized by (a weighted least-squares fit of the pair margins onto (2 P(y > y') - 1)/(2 eta)
    under pi_t x pi_t, whose solution is the row mean under pi_t)

        log pi_{t+1} = r log ref + (1 - r) sum_j lambda_j log pi_j + (1/eta) P(y > pi_t) + c

    the win rate against the **sampling policy** pi_t, not Eq. 10's sum_j lambda_j P(y > pi_j)
    (``mnpo_eq10``): the same fixed point (the regularized equilibrium), a different path. TD-MNPO: the
    opponents are the last ``history`` iterates, most recent first (fewer at the start; lambda renormalized
    over those present); ``history = 1`` is INPO, step for step. ``population`` fixes the opponents instead
    (EO-MNPO; the pairs still come from pi_t). Exact: P(y > pi_t) = P pi_t; sampled: estimated against
    ``samples`` opponents drawn from pi_t.
    """
    return _mnpo_steps("mnpo", game, log_pi, eta, history, weights, population, against_sampler=True)


@algorithm("mnpo_eq10",
           summary="MNPO as v3 Eq. 10 writes it: geometric mean of the opponents x exp(weighted win rate against "
                   "them / eta)", **_MNPO_META)
def mnpo_eq10(game: Game, log_pi: np.ndarray, eta: float, history: int, weights,
              population) -> Iterator[np.ndarray]:
    """MNPO's closed-form update as the paper writes it (arXiv 2509.23102, v1 Eq. 11 / v3 Eq. 10, with the
    released code's reference term), r = tau/eta, tau = beta:

        log pi_{t+1} = r log ref + (1 - r) sum_j lambda_j log pi_j + (1/eta) sum_j lambda_j P(y > pi_j) + c

    This is **not** the minimizer of the regression the paper and its code train (pairs from pi_t give the
    win rate against pi_t: ``mnpo``); the two agree with one opponent (INPO) and at the fixed point. Kept to
    compare the two paths. Exact: P(y > pi_j) = P pi_j; sampled: each opponent's win rate is estimated
    against its own ``samples`` draws.
    """
    return _mnpo_steps("mnpo_eq10", game, log_pi, eta, history, weights, population, against_sampler=False)


@algorithm("egpo",
           summary="EGPO: extragradient mirror steps on the regularized game (a half step, then a step with its win rates)",
           iterations=300, regularized=True, averaged=False,
           target="the beta-regularized Nash equilibrium (last iterate, linear rate)",
           paper="Extragradient Preference Optimization (EGPO): Beyond Last-Iterate Convergence for Nash Learning "
                 "from Human Feedback", arxiv="2503.08942",
           hypers={"eta": Hyper(1.0, "mirror step (EGPO's tabular mapping from SGD on logits: eta = 2 lr / (beta N))")})
def egpo(game: Game, log_pi: np.ndarray, eta: float) -> Iterator[np.ndarray]:
    """EGPO (Zhou, Fazel and Du, arXiv 2503.08942): extragradient on the beta-regularized game, in the
    mirror (multiplicative) form that its online-IPO loss implements, c = eta beta:

        log pi_{t+1/2} = (1 - c) log pi_t + c log ref + eta P(y > pi_t) + const
        log pi_{t+1}   = (1 - c) log pi_t + c log ref + eta P(y > pi_{t+1/2}) + const

    This is EGPO's own extragradient (``zhourunlong/EGPO``: ``simulations/loss_funcs.py`` ``extragradient``,
    and its trainer, which restores theta_t before taking the second gradient on data drawn at the
    extrapolated point): the win rates come from pi_{t+1/2}, the KL part stays at pi_t (one SGD step of lr
    on its tabular loss is this step with eta = 4 lr / (N beta)). Fixed point beta h = P pi + c: the
    regularized equilibrium, reached at a linear rate. Exact:
    P(y > pi) = P pi; sampled: both win-rate vectors estimated from ``samples`` fresh opponents each.
    """
    c = eta * game.beta
    if c > 1:
        raise ValueError(f"egpo: eta * beta = {c:.3g} > 1 puts a negative weight on pi_t; use eta <= 1 / beta")
    while True:
        half = normalize((1 - c) * log_pi + c * game.log_ref + eta * game.wins(np.exp(log_pi)))
        log_pi = normalize((1 - c) * log_pi + c * game.log_ref + eta * game.wins(np.exp(half)))
        yield log_pi


_MWU_ETA = Hyper(0.5, "multiplicative-weights step on the win rate")


@algorithm("sppo",
           summary="SPPO: multiplicative weights pi_{t+1} ∝ pi_t exp(eta (P(y > pi_t) - 1/2)) (its regression's solution)",
           iterations=1000, regularized=False, averaged=True,
           target="the unregularized equilibrium (maximal lottery), by the average iterate at O(1/sqrt T)",
           paper="Self-Play Preference Optimization for Language Model Alignment", arxiv="2405.00675",
           hypers={"eta": _MWU_ETA})
def sppo(game: Game, log_pi: np.ndarray, eta: float) -> Iterator[np.ndarray]:
    """SPPO (Wu et al., arXiv 2405.00675, Eq. 4.6-4.7): the exact minimizer of its regression
    ``(log pi(y)/pi_t(y) - eta (P(y > pi_t) - 1/2))^2`` is multiplicative weights,

        pi_{t+1}(y) ∝ pi_t(y) exp(eta (P(y > pi_t) - 1/2))

    with no anchor to ref (beta only sets the gap it is measured at); the average iterate approaches the
    maximal lottery at O(1/sqrt T). Exact: P(y > pi_t) = P pi_t; sampled: estimated against ``samples``
    opponents drawn from pi_t (SPPO's K samples per prompt, with every response scored).
    """
    while True:
        log_pi = normalize(log_pi + eta * (game.wins(np.exp(log_pi)) - 0.5))
        yield log_pi


@algorithm("spo", summary="SPO: self-play soft policy iteration on the win proportion among the policy's own samples",
           iterations=1000, regularized=False, averaged=True,
           target="the Minimax Winner (maximal lottery), by the average iterate at O(1/sqrt T)",
           paper="A Minimaximalist Approach to Reinforcement Learning from Human Feedback", arxiv="2401.04056",
           hypers={"eta": _MWU_ETA})
def spo(game: Game, log_pi: np.ndarray, eta: float) -> Iterator[np.ndarray]:
    """SPO (Swamy et al., arXiv 2401.04056, Algorithm 1 with soft policy iteration as the no-regret learner):
    each response's reward is its win proportion against the policy's other samples,

        pi_{t+1}(y) ∝ pi_t(y) exp(eta R_t(y)),   R_t(y) = P(y > pi_t)

    Exact: R_t = P pi_t (then this is ``sppo``'s path: the shift by 1/2 vanishes in the normalization).
    Sampled: ``samples`` (>= 2) responses drawn from pi_t play each other once per pair (Bernoulli bits);
    a drawn response's reward is its win proportion against the other draws (averaged over its copies),
    an unbiased estimate of P(y > pi_t); responses not drawn get the mean reward 1/2.
    """
    if game.sampled and game.samples < 2:
        raise ValueError("spo: the sampled form plays the policy's samples against each other and needs samples >= 2")
    while True:
        pi = np.exp(log_pi)
        if game.sampled:
            y, wins = game.round_robin(pi)
            reward = game.per_response(y, wins / (game.samples - 1), absent=0.5)
        else:
            reward = game.P @ pi
        log_pi = normalize(log_pi + eta * reward)
        yield log_pi


@algorithm("onpo",
           summary="ONPO: optimistic mirror descent pi_{t+1} ∝ pi_t exp(eta (2 r_t - r_{t-1})), predictor r_{t-1}",
           iterations=1000, regularized=False, averaged=True,
           target="the unregularized equilibrium (maximal lottery), by the average iterate at O(1/T)",
           paper="Improving LLM General Preference Alignment via Optimistic Online Mirror Descent",
           arxiv="2502.16852", hypers={"eta": Hyper(1.0, "mirror step")})
def onpo(game: Game, log_pi: np.ndarray, eta: float) -> Iterator[np.ndarray]:
    """ONPO (Zhang et al., arXiv 2502.16852): optimistic online mirror descent on the unregularized game
    with the predictor m_t = r_{t-1}, r_t(y) = P(y > pi_t). In the two-sequence form
    pihat_{t+1} ∝ pihat_t exp(eta r_t), pi_{t+1} ∝ pihat_{t+1} exp(eta m_{t+1}); in one sequence

        pi_{t+1}(y) ∝ pi_t(y) exp(eta (2 r_t(y) - r_{t-1}(y))),   r_{-1} = r_0

    The average iterate's duality gap is O(1/T) (vs O(1/sqrt T) for plain mirror descent, ``sppo``).
    Exact: r_t = P pi_t; sampled: r_t estimated against ``samples`` opponents drawn from pi_t.
    """
    prev = None
    while True:
        r = game.wins(np.exp(log_pi))
        prev = r if prev is None else prev
        log_pi = normalize(log_pi + eta * (2.0 * r - prev))
        prev = r
        yield log_pi


@algorithm("dno",
           summary="DNO: on-policy contrastive regression onto win-rate gaps; target pi_{t+1} ∝ pi_t exp(r_t / eta)",
           iterations=1000, regularized=False, averaged=True,
           target="the unregularized equilibrium (maximal lottery), by the average iterate",
           paper="Direct Nash Optimization: Teaching Language Models to Self-Improve with General Preferences",
           arxiv="2404.03715", hypers={"eta": Hyper(2.0, "DNO's eta: the KL weight toward pi_t, so 1/eta is the step")})
def dno(game: Game, log_pi: np.ndarray, eta: float) -> Iterator[np.ndarray]:
    """DNO (Rosset et al., arXiv 2404.03715, Algorithm 1): the regression of ``eta (log pi(y_i)/pi_t(y_i) -
    log pi(y_j)/pi_t(y_j))`` onto the win-rate gap r_t(y_i) - r_t(y_j) over pairs of on-policy samples
    (soft targets sigmoid(r_i - r_j), the logistic loss) has the exact solution

        pi_{t+1}(y) ∝ pi_t(y) exp(r_t(y) / eta)

    Exact: r_t = P pi_t (``sppo``'s path with eta_sppo = 1/eta). Sampled (one batch per iteration):
    ``samples`` responses drawn from pi_t, each scored by its mean Bernoulli win against the batch (self
    term 1/2, as SPPO's and DNO's code), and the regression solved exactly on the batch: a drawn response
    moves by (r^(y) - mean r^) / eta relative to the responses not drawn.
    """
    while True:
        pi = np.exp(log_pi)
        if game.sampled:
            y, wins = game.round_robin(pi)
            score = (0.5 + wins) / game.samples
            move = game.per_response(y, score - score.mean(), absent=0.0)
        else:
            move = game.P @ pi
        log_pi = normalize(log_pi + move / eta)
        yield log_pi


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------

def _positive_policy(pi, n: int, name: str) -> np.ndarray:
    pi = check_policy(pi, n, name)
    if np.any(pi <= 0):
        raise ValueError(f"{name}[{int(np.argmin(pi))}] = 0: the dynamics take log({name}), so every response needs "
                         f"positive probability (drop a response from P instead)")
    return pi


def get_algorithm(name: str) -> Algorithm:
    """The registered algorithm, or a ValueError naming the nearest valid name."""
    if not isinstance(name, str):
        raise ValueError(f"algorithm must be a name, got {type(name).__name__}")
    if name.startswith(AlgorithmTable.PREFIX):
        return ALGORITHMS[name]             # an unknown objective raises, naming the nearest one
    if name in ALGORITHMS:
        return ALGORITHMS[name]
    near = difflib.get_close_matches(name, list(ALGORITHMS), n=1, cutoff=0.5)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    raise ValueError(f"unknown algorithm '{name}'{hint} (known: {', '.join(sorted(ALGORITHMS))}, "
                     "or 'objective:<name>' for any registered objective)")


def collect_iterates(steps: Iterator[np.ndarray], init: np.ndarray, iterations: int, callback) -> list:
    """``init`` and the first ``iterations`` policies of a dynamics' log-policy generator, calling ``callback(t)``
    after each."""
    iterates = [init]
    for t in range(1, int(iterations) + 1):
        iterates.append(np.exp(next(steps)))
        if callback is not None:
            callback(t)
    return iterates


def check_run_arguments(iterations, samples, every, callback) -> None:
    """The run settings every dynamics runner takes: whole numbers in range and a callable callback."""
    for name, value, low in (("iterations", iterations, 0), ("samples", samples, 1), ("every", every, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable (it is called with the iteration number), got {callback!r}")


def run_dynamics(P, algorithm: str, beta: float, ref=None, iterations: Optional[int] = None, sampled: bool = False,
                 samples: int = 16, seed: int = 0, every: int = 1, init=None, callback=None, **hyper) -> Trajectory:
    """Run ``algorithm`` on the game (P, beta, ref) from ``init`` (default: ref) and return its trajectory.

    ``iterations`` None is the algorithm's default; ``sampled`` picks the finite-sample form (``samples``
    draws per step from ``numpy.random.default_rng(seed)``); ``every`` thins the recorded rows (the last is
    always kept, the running average uses every iterate); ``callback(t)`` runs after iteration t;
    ``**hyper`` overrides the algorithm's ``defaults``. ``"objective:<name>"`` trains a softmax policy with
    any registered objective (:func:`preflab.games.objective_path.train_objective`).
    """
    algo = get_algorithm(algorithm)
    P = check_preference(P)
    n = P.shape[0]
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)) \
            or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    if algo.regularized and beta == 0:
        raise ValueError(f"{algo.name} regularizes toward ref with weight beta and needs beta > 0; for the "
                         "unregularized game use sppo, spo, onpo or dno")
    ref = np.full(n, 1.0 / n) if ref is None else _positive_policy(ref, n, "ref")
    init = ref.copy() if init is None else _positive_policy(init, n, "init")
    iterations = algo.default_iterations if iterations is None else iterations
    check_run_arguments(iterations, samples, every, callback)
    if algorithm.startswith(AlgorithmTable.PREFIX):
        from .objective_path import train_objective
        return train_objective(P, algorithm[len(AlgorithmTable.PREFIX):], beta, ref, iterations=int(iterations),
                               exact=not sampled, batch=int(samples), seed=seed, every=int(every), init=init,
                               callback=callback, **hyper)
    hp = algo.resolve(hyper)
    game = Game(P, float(beta), ref, bool(sampled), int(samples), np.random.default_rng(seed))
    steps = algo.run(game, np.log(init), **hp)
    iterates = collect_iterates(steps, init, iterations, callback)
    params = {**{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in hp.items()},
              "samples": int(samples) if sampled else None, "seed": seed if sampled else None}
    return Trajectory.record(algo.name, P, beta, ref, iterates, every=int(every), params=params, sampled=bool(sampled))
