"""The general-sum game of HT-MNPO: one preference oracle per player, per-player duality gaps, and its dynamics.

MNPO's heterogeneous setting (arXiv 2509.23102 v3, Sec. HT-MNPO, Eq. 18): n players over the same N
responses, player i judged by its own preference matrix ``P_i`` (``P_i + P_i^T = 1``; one annotator type or
reward model per player). With a regularization beta >= 0 and a reference ``ref``, player i earns

    J_i(pi_i, O) = (1/(n-1)) sum_{j != i} pi_i^T P_i pi_j - beta KL(pi_i || ref)

against the others O = {pi_j}_{j != i}. With ``u_i = (1/(n-1)) sum_{j != i} P_i pi_j`` (player i's win rate
against the others, response by response) its exact best response is ``BR_i ∝ ref exp(u_i / beta)`` and its
duality gap (v3 Eq. 9, per player)

    gap_i = max_pi' J_i(pi', O) - J_i(pi_i, O) = beta log sum_y ref(y) exp(u_i(y) / beta) - pi_i . u_i + beta KL(pi_i || ref)

(``max_y u_i(y) - pi_i . u_i`` for beta = 0). A profile is a Nash equilibrium when every gap is 0. With every
``P_i = P`` and every player at pi, each gap is :func:`~preflab.games.equilibria.multiplayer_gap`'s, DG(pi) / 2.

:func:`run_general_sum` runs a dynamic of the game (``ht_mnpo``) and returns a :class:`GeneralSumTrajectory`.

>>> import numpy as np
>>> Ps = np.array([[[0.5, 0.8], [0.2, 0.5]], [[0.5, 0.3], [0.7, 0.5]]])   # player 0 likes response 0, player 1 response 1
>>> general_sum_gaps(Ps, [[0.5, 0.5], [0.5, 0.5]], beta=0.0).round(6).tolist()
[0.15, 0.1]
>>> traj = run_general_sum(np.stack([Ps[0], Ps[0]]), "ht_mnpo", beta=0.1, init=[[0.9, 0.1], [0.2, 0.8]])
>>> bool(traj.gaps[-1].max() < 1e-8)        # the same oracle for both: they meet at its regularized equilibrium
True
"""

from __future__ import annotations

import difflib
import inspect
import math
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import numpy as np
from scipy.special import logsumexp, softmax

from .dynamics import Algorithm, Game, Hyper, _INPO_ETA, _inpo_ratio, check_run_arguments, collect_iterates, normalize
from .equilibria import kl
from .preferences import check_policy, check_preference

__all__ = ["check_players", "player_wins", "general_sum_payoffs", "general_sum_best_responses", "general_sum_gaps",
           "GeneralSumTrajectory", "GENERAL_SUM_ALGORITHMS", "run_general_sum"]


# --------------------------------------------------------------------------------------------------
# The game
# --------------------------------------------------------------------------------------------------

def check_players(Ps) -> np.ndarray:
    """The players' preference matrices as a float64 [n, N, N] array (n >= 2 players), or a ValueError that
    names the player and entry at fault."""
    Ps = np.asarray(Ps, dtype=np.float64)
    if Ps.ndim != 3:
        raise ValueError(f"Ps must be one [N, N] preference matrix per player, [players, N, N]; got shape {Ps.shape}")
    if Ps.shape[0] < 2:
        raise ValueError(f"a general-sum game needs at least 2 players, got {Ps.shape[0]}")
    return np.stack([check_preference(P, f"Ps[{i}]") for i, P in enumerate(Ps)])


def _profile(profile, players: int, n: int, name: str = "profile") -> np.ndarray:
    profile = np.asarray(profile, dtype=np.float64)
    if profile.shape != (players, n):
        raise ValueError(f"{name} must hold one policy per player, shape [{players}, {n}]; got {profile.shape}")
    return np.stack([check_policy(q, n, f"{name}[{i}]") for i, q in enumerate(profile)])


def _ref(ref, n: int) -> np.ndarray:
    return np.full(n, 1.0 / n) if ref is None else check_policy(ref, n, "ref")


def _beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.integer, np.floating)) \
            or not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    return float(beta)


def _wins(Ps: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """u[i] = (1/(n-1)) sum_{j != i} P_i pi_j, for checked inputs."""
    k = len(profile)
    total = profile.sum(axis=0)
    return np.einsum("iyz,iz->iy", Ps, (total[None, :] - profile) / (k - 1))


def player_wins(Ps, profile) -> np.ndarray:
    """[n, N]: ``u_i(y) = (1/(n-1)) sum_{j != i} P_i(y > pi_j)``, each player's win rate against the others."""
    Ps = check_players(Ps)
    return _wins(Ps, _profile(profile, *Ps.shape[:2]))


def _gaps(Ps, profile, beta, ref) -> np.ndarray:
    u = _wins(Ps, profile)
    own = np.einsum("iy,iy->i", profile, u)
    if beta == 0:
        return np.maximum(0.0, u.max(axis=1) - own)
    with np.errstate(divide="ignore"):       # a player off ref's support has KL = inf, so gap = inf
        log_ref = np.log(ref)
    best = beta * logsumexp(log_ref[None, :] + u / beta, axis=1)
    kls = np.array([kl(q, ref) for q in profile])
    return np.maximum(0.0, best - (own - beta * kls))


def general_sum_payoffs(Ps, profile, beta: float = 0.0, ref=None) -> np.ndarray:
    """[n]: ``J_i(pi_i, O) = (1/(n-1)) sum_{j != i} pi_i^T P_i pi_j - beta KL(pi_i || ref)``."""
    Ps, beta = check_players(Ps), _beta(beta)
    players, n = Ps.shape[:2]
    profile, ref = _profile(profile, players, n), _ref(ref, n)
    own = np.einsum("iy,iy->i", profile, _wins(Ps, profile))
    return own - (beta * np.array([kl(q, ref) for q in profile]) if beta > 0 else 0.0)


def general_sum_best_responses(Ps, profile, beta: float = 0.0, ref=None) -> np.ndarray:
    """[n, N]: each player's exact best response to the others, ``∝ ref exp(u_i / beta)``; for beta = 0,
    uniform over its best pure responses."""
    Ps, beta = check_players(Ps), _beta(beta)
    players, n = Ps.shape[:2]
    u = _wins(Ps, _profile(profile, players, n))
    if beta == 0:
        best = u >= u.max(axis=1, keepdims=True) - 1e-12
        return best / best.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return softmax(np.log(_ref(ref, n))[None, :] + u / beta, axis=1)


def general_sum_gaps(Ps, profile, beta: float = 0.0, ref=None) -> np.ndarray:
    """[n]: each player's duality gap ``max_pi' J_i(pi', O) - J_i(pi_i, O) >= 0`` (v3 Eq. 9, per player);
    ``inf`` for a player that leaves the reference's support when beta > 0."""
    Ps, beta = check_players(Ps), _beta(beta)
    players, n = Ps.shape[:2]
    return _gaps(Ps, _profile(profile, players, n), beta, _ref(ref, n))


# --------------------------------------------------------------------------------------------------
# Dynamics
# --------------------------------------------------------------------------------------------------

@dataclass
class GeneralSumTrajectory:
    """The path of the n players of one general-sum game: ``policies[k, i]`` is player i after
    ``iterations[k]`` updates (row 0 the start), ``averaged[k, i]`` the uniform average of its iterates
    1..t, ``gaps[k, i]`` / ``avg_gaps[k, i]`` the per-player duality gaps of both profiles at the game's beta."""

    algorithm: str
    beta: float
    ref: np.ndarray
    iterations: np.ndarray                  # [R]
    policies: np.ndarray                    # [R, n, N]
    averaged: np.ndarray                    # [R, n, N]
    gaps: np.ndarray                        # [R, n]
    avg_gaps: np.ndarray                    # [R, n]
    params: dict = field(default_factory=dict)
    sampled: bool = False

    @property
    def last(self) -> np.ndarray:
        """[n, N]: the final profile."""
        return self.policies[-1]

    def summary(self, Ps) -> dict:
        """Final figures, JSON-ready: per-player gaps (last and averaged profile), payoffs, KL to ref, policies."""
        Ps = check_players(Ps)
        last = self.policies[-1]
        return {"algorithm": self.algorithm, "iterations": int(self.iterations[-1]), "sampled": self.sampled,
                "players": int(last.shape[0]), "gaps": [float(g) for g in self.gaps[-1]],
                "avg_gaps": [float(g) for g in self.avg_gaps[-1]],
                "payoffs": [float(v) for v in general_sum_payoffs(Ps, last, self.beta, self.ref)],
                "kl_to_ref": [kl(q, self.ref) for q in last], "policies": last.tolist(), "params": self.params}

    @classmethod
    def record(cls, algorithm: str, Ps, beta: float, ref, iterates, every: int = 1, **kw) -> "GeneralSumTrajectory":
        """From the full list of profiles (start included), keeping every ``every``-th row and the last."""
        Ps = check_players(Ps)
        it = np.asarray(iterates, dtype=np.float64)
        T = len(it) - 1
        csum = np.cumsum(it[1:], axis=0) if T > 0 else np.zeros((0,) + it.shape[1:])
        keep = sorted(set(range(0, T + 1, max(1, every))) | {T})
        avg = np.stack([it[0] if t == 0 else csum[t - 1] / t for t in keep])
        pol = it[keep]
        ref = np.asarray(ref, dtype=np.float64)
        return cls(algorithm=algorithm, beta=float(beta), ref=ref, iterations=np.asarray(keep), policies=pol,
                   averaged=avg, gaps=np.stack([_gaps(Ps, p, float(beta), ref) for p in pol]),
                   avg_gaps=np.stack([_gaps(Ps, p, float(beta), ref) for p in avg]), **kw)


GENERAL_SUM_ALGORITHMS: dict = {}


def _register(name: str, *, summary: str, iterations: int, target: str, paper: str, arxiv: str, hypers: dict):
    def decorate(fn: Callable[..., Iterator[np.ndarray]]):
        GENERAL_SUM_ALGORITHMS[name] = Algorithm(name=name, summary=summary, hypers=hypers, regularized=True,
                                                 averaged=False, target=target, run=fn, default_iterations=iterations,
                                                 paper=paper, arxiv=arxiv, doc=inspect.cleandoc(fn.__doc__ or ""))
        return fn
    return decorate


@_register("ht_mnpo",
           summary="HT-MNPO: each player regresses against the geometric mean of the others' current policies with "
                   "its own oracle P_i",
           iterations=300,
           target="with one oracle for all, the regularized equilibrium; with different oracles a fixed point "
                  "that the consensus anchor pulls away from the general-sum equilibrium (gaps stall above 0)",
           paper="Multiplayer Nash Preference Optimization", arxiv="2509.23102",
           hypers={"eta": _INPO_ETA,
                   "win": Hyper("sampler", "the win rate of the update: against the player's own policy, which "
                                           "draws its pairs (sampler: the regression's exact minimizer, as the "
                                           "released pipeline decodes with each player's model), or the average "
                                           "against the other players (opponents: Eq. 10's form, what J_i scores)",
                                "choice", ("sampler", "opponents"))})
def ht_mnpo(games: list, log_pis: np.ndarray, eta: float, win: str) -> Iterator[np.ndarray]:
    """HT-MNPO (arXiv 2509.23102 v3, Eq. 18, with the released code's reference term r = tau/eta, tau = beta):
    the n players update side by side; player i, with its own oracle P_i, trains on pairs y, y' ~ pi_i^t
    labelled by P_i the regression

        E[(log pi(y_w)/pi(y_l) - r log ref(y_w)/ref(y_l) - (1 - r) (1/(n-1)) sum_{j != i} log pi_j^t(y_w)/pi_j^t(y_l)
           - 1/(2 eta))^2]

    against the other players' **current** policies, whose exact minimizer (as for ``mnpo``) is

        log pi_i^{t+1} = r log ref + (1 - r) (1/(n-1)) sum_{j != i} log pi_j^t + (1/eta) w_i^t + c

    with ``w_i^t = P_i(y > pi_i^t)`` (``win="sampler"``) or Eq. 10's ``(1/(n-1)) sum_{j != i} P_i(y > pi_j^t)``
    (``win="opponents"``). With every P_i equal and one start this is ``mnpo`` with one opponent (INPO).
    With different oracles the general-sum equilibrium (log pi_i = log ref + u_i / beta) is a fixed point
    only where the players' equilibrium policies coincide: the (1 - r) pull toward the others' geometric
    mean leaves a floor on the per-player gaps. Exact: P_i(y > q) = P_i q; sampled: each win-rate vector
    estimated against ``samples`` draws from q with Bernoulli(P_i) bits.
    """
    c = _inpo_ratio("ht_mnpo", games[0], eta)
    k = len(games)
    while True:
        pis = np.exp(log_pis)
        total = log_pis.sum(axis=0)
        new = []
        for i, game in enumerate(games):
            geo = (total - log_pis[i]) / (k - 1)
            if win == "sampler":
                w = game.wins(pis[i])
            else:
                w = sum(game.wins(pis[j]) for j in range(k) if j != i) / (k - 1)
            new.append(normalize(c * game.log_ref + (1 - c) * geo + w / eta))
        log_pis = np.stack(new)
        yield log_pis


def _get(name: str) -> Algorithm:
    if name in GENERAL_SUM_ALGORITHMS:
        return GENERAL_SUM_ALGORITHMS[name]
    near = difflib.get_close_matches(str(name), list(GENERAL_SUM_ALGORITHMS), n=1, cutoff=0.5)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    raise ValueError(f"unknown general-sum algorithm '{name}'{hint} (known: {', '.join(sorted(GENERAL_SUM_ALGORITHMS))})")


def run_general_sum(Ps, algorithm: str = "ht_mnpo", beta: float = 0.1, ref=None, iterations: Optional[int] = None,
                    sampled: bool = False, samples: int = 16, seed: int = 0, every: int = 1, init=None,
                    callback=None, **hyper) -> GeneralSumTrajectory:
    """Run a general-sum dynamic on the game (Ps [n, N, N], beta, ref) and return its trajectory, with
    :func:`~preflab.games.dynamics.run_dynamics`'s conventions: ``init`` None starts every player at ref, one
    policy [N] starts them all there, [n, N] gives each its own; ``sampled`` draws ``samples`` responses per
    query from ``numpy.random.default_rng(seed)`` (one generator, the players in order); ``every`` thins the
    recorded rows; ``callback(t)`` runs after iteration t; ``**hyper`` overrides the algorithm's defaults."""
    algo = _get(algorithm)
    Ps, beta = check_players(Ps), _beta(beta)
    players, n = Ps.shape[:2]
    if beta == 0:
        raise ValueError(f"{algo.name} regularizes toward ref with weight beta and needs beta > 0")
    ref = _ref(ref, n)
    if np.any(ref <= 0):
        raise ValueError(f"ref[{int(np.argmin(ref))}] = 0: the dynamics take log(ref), so every response needs "
                         "positive probability")
    if init is None:
        init = np.tile(ref, (players, 1))
    else:
        init = np.asarray(init, dtype=np.float64)
        init = np.tile(init, (players, 1)) if init.ndim == 1 else init
        init = _profile(init, players, n, "init")
        if np.any(init <= 0):
            i, y = np.argwhere(init <= 0)[0]
            raise ValueError(f"init[{i}, {y}] = 0: the dynamics take log(init), so every response needs positive "
                             "probability")
    iterations = algo.default_iterations if iterations is None else iterations
    check_run_arguments(iterations, samples, every, callback)
    hp = algo.resolve(hyper)
    rng = np.random.default_rng(seed)
    games = [Game(P, beta, ref, bool(sampled), int(samples), rng) for P in Ps]
    steps = algo.run(games, np.log(init), **hp)
    iterates = collect_iterates(steps, init, iterations, callback)
    params = {**hp, "samples": int(samples) if sampled else None, "seed": seed if sampled else None}
    return GeneralSumTrajectory.record(algo.name, Ps, beta, ref, iterates, every=int(every), params=params,
                                       sampled=bool(sampled))
