"""Multi-fidelity fitness, fidelity 1: exact preference games (sandbox jobs ``preflab.discover.fitness:games``
and ``:curve``). Fidelity 2, the tiny model, is :mod:`preflab.discover.tiny`.

``games(loss_fn)`` first validates the candidate (``preflab.discover.validate``), registers it for the run,
then on each game (P, ref, beta) trains ``pi = softmax(theta)`` with it by
:func:`preflab.games.objective_path.train_objective` (online: pairs drawn from the current policy, labelled
by a Bernoulli(P) draw; ``iterations`` RMSprop steps of ``batch`` pairs, seeded) and scores the last iterate:

    J(pi)  = W(pi, ref) - 1/2 - beta KL(pi || ref)          (regularized win rate against the reference)
    J*     = J(pi_br),  pi_br = ref exp(P ref / beta) / Z    (its maximizer, in closed form)
    G(pi)  = the duality gap of the beta-regularized game    (preflab.games.duality_gap; 0 at its Nash)
    score  = 1/2 max(-1, J(pi) / J*) + 1/2 max(-1, 1 - G(pi) / G(ref))

and ``fitness`` is the mean score over the games: 1 would be both optimal against the reference and at the
equilibrium (they differ, so no loss reaches 1), 0 is no better than the reference, each half is floored
at -1 so one diverging game cannot dominate. The search games (``SEARCH_GAMES``) and the held-out games of
the final report (``HELD_OUT_GAMES``) are different random games. About 0.3 s a game on one core (150 steps of 32 pairs).

>>> import torch.nn.functional as F
>>> def dpo(batch, beta):
...     rho = (batch.policy_logps[:, 0] - batch.ref_logps[:, 0]) - (batch.policy_logps[:, 1] - batch.ref_logps[:, 1])
...     return -F.logsigmoid(beta * rho)
>>> out = games(dpo, games=[[0, 6, 0.5]], iterations=50, validate=False)
>>> sorted(out["games"][0])
['beta', 'gap', 'gap_ref', 'j', 'j_star', 'kl', 'n', 'score', 'seed', 'win']
>>> curve(dpo, beta=1.0, margins=[0.0])["loss"]          # -logsig(0) = log 2
[0.6931471805599453]
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

from preflab.discover.candidate import as_objective
from preflab.discover.validate import validate as validate_candidate
from preflab.games import duality_gap, kl, random_preference, win_rate
from preflab.games.objective_path import train_objective
from preflab.objectives import ScoreBatch
from preflab.objectives.registry import unregister

# every import at the top: the sandbox worker imports this module before its guard refuses writes (such as
# Python's bytecode cache)

__all__ = ["games", "curve", "game_instance", "score_policy", "register_candidate", "SEARCH_GAMES",
           "HELD_OUT_GAMES"]

# (seed, responses N, beta); held-out games share nothing with the search games
SEARCH_GAMES = ((0, 8, 0.1), (1, 8, 0.25), (2, 12, 0.1))
HELD_OUT_GAMES = ((100, 8, 0.1), (101, 10, 0.25), (102, 12, 0.5))


def game_instance(seed: int, n: int):
    """A random preference game and a reference that is not uniform: ``(P, ref)``."""
    P = random_preference(n, seed=seed)
    rng = np.random.default_rng([seed, 7])
    ref = 0.5 / n + 0.5 * rng.dirichlet(np.full(n, 2.0))
    return P, ref / ref.sum()


def score_policy(P, ref, pi, beta: float) -> dict:
    """Win rate, KL, duality gap and the game's score (the module docstring's formula) of a policy."""
    def j(p):
        return win_rate(P, p, ref) - 0.5 - beta * kl(p, ref)

    log_br = np.log(ref) + (P @ ref) / beta
    br = np.exp(log_br - log_br.max())
    br /= br.sum()
    j_pi, j_star = j(pi), j(br)
    gap, gap_ref = duality_gap(P, pi, beta, ref), duality_gap(P, ref, beta, ref)
    score = 0.5 * max(-1.0, j_pi / j_star) + 0.5 * max(-1.0, 1.0 - gap / gap_ref)
    return {"win": float(win_rate(P, pi, ref)), "kl": float(kl(pi, ref)), "gap": float(gap), "gap_ref": float(gap_ref),
            "j": float(j_pi), "j_star": float(j_star), "score": float(score)}


def register_candidate(loss_fn, name: Optional[str] = None) -> str:
    """Register ``loss_fn(batch, beta) -> [B]`` in this process's objective registry (through
    :func:`preflab.discover.candidate.as_objective`: pairwise, needs the reference, summed log-probs, param
    ``beta``) and return its name. Call it only where the candidate may run: inside the sandbox child (or on
    trusted code)."""
    name = name or f"candidate_{id(loss_fn):x}"
    as_objective(loss_fn, name)
    return name


def games(loss_fn, games: Optional[Sequence] = None, iterations: int = 150, lr: float = 0.03, batch: int = 32,
          seed: int = 0, validate: bool = True, beta_validate: float = 0.1) -> dict:
    """Fidelity 1 (a sandbox job): ``{"fitness", "win", "kl", "gap", "games": [per game]}``; raises the
    validator's ``CandidateInvalid`` for an invalid candidate and ValueError when training diverges."""
    checks = None
    if validate:
        checks = validate_candidate(loss_fn, beta=beta_validate, seed=seed).get("checks")
    name = register_candidate(loss_fn)
    rows = []
    try:
        for game_seed, n, beta in (games or SEARCH_GAMES):
            P, ref = game_instance(int(game_seed), int(n))
            traj = train_objective(P, name, beta=float(beta), ref=ref, online=True, iterations=iterations, lr=lr,
                                   batch=batch, seed=seed + int(game_seed), every=max(1, iterations))
            row = score_policy(P, ref, traj.last, float(beta))
            row.update(seed=int(game_seed), n=int(n), beta=float(beta))
            rows.append(row)
    finally:
        unregister(name)                    # a job leaves the registry as it found it
    out = {"fitness": float(np.mean([r["score"] for r in rows]))}
    for key in ("win", "kl", "gap"):
        out[key] = float(np.mean([r[key] for r in rows]))
    out["games"] = rows
    if checks is not None:
        out["checks"] = checks
    return out


def curve(loss_fn, beta: float = 0.1, margins: Optional[Sequence[float]] = None) -> dict:
    """The loss as a function of the margin rho (a sandbox job, for the report's plot): the grid as one batch
    (rho_w = rho, rho_l = 0; batch statistics see the whole grid); non-finite values become None."""
    margins = list(np.linspace(-40, 40, 81) if margins is None else margins)
    m = torch.tensor(margins, dtype=torch.float64)
    batch = ScoreBatch(policy_logps=torch.stack([m, torch.zeros_like(m)], 1),
                       ref_logps=torch.zeros(len(margins), 2, dtype=torch.float64),
                       lengths=torch.ones(len(margins), 2, dtype=torch.long))
    with torch.no_grad():
        values = loss_fn(batch, beta)
    values = [float(v) for v in torch.as_tensor(values, dtype=torch.float64).reshape(-1).tolist()]
    return {"beta": beta, "margin": [float(x) for x in margins],
            "loss": [v if math.isfinite(v) else None for v in values]}
