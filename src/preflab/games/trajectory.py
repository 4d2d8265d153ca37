"""What a run of a game dynamic returns: its iterates, their running average, and the exact metrics of both."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .equilibria import gap_of_checked, kl
from .preferences import check_policy, check_preference

__all__ = ["Trajectory"]


@dataclass
class Trajectory:
    """The path of one algorithm on one game.

    ``policies[t]`` is the iterate after t updates (``policies[0]`` the start), ``averaged[t]`` the uniform
    average of ``policies[1..t]`` (``averaged[0] = policies[0]``). ``gaps`` / ``avg_gaps`` are the duality
    gaps of both at the game's beta (the regularized gap for beta > 0). ``eval_every`` says which iterations
    were recorded: row k is iteration ``iterations[k]``."""

    algorithm: str
    beta: float
    ref: np.ndarray
    iterations: np.ndarray                  # [R] the iteration number of each recorded row
    policies: np.ndarray                    # [R, N]
    averaged: np.ndarray                    # [R, N]
    gaps: np.ndarray                        # [R] DG(policies[k])
    avg_gaps: np.ndarray                    # [R] DG(averaged[k])
    params: dict = field(default_factory=dict)     # step size, samples, seed, anything the algorithm used
    sampled: bool = False
    extra: Optional[dict] = None

    @property
    def last(self) -> np.ndarray:
        return self.policies[-1]

    def summary(self, P) -> dict:
        """Final figures, JSON-ready: last and averaged gap, win rate against the reference, KL, iterations."""
        last = self.policies[-1]
        return {"algorithm": self.algorithm, "iterations": int(self.iterations[-1]), "sampled": self.sampled,
                "duality_gap": float(self.gaps[-1]), "avg_duality_gap": float(self.avg_gaps[-1]),
                "win_rate_vs_ref": float(last @ P @ self.ref), "kl_to_ref": kl(last, self.ref),
                "policy": [float(x) for x in last], "params": self.params}

    @classmethod
    def record(cls, algorithm: str, P, beta: float, ref, iterates, every: int = 1, **kw) -> "Trajectory":
        """Build a trajectory from the full list of iterates (start included), keeping every ``every``-th
        row and always the last; the running average runs over all iterates, recorded or not."""
        P = check_preference(P)
        ref = check_policy(ref, P.shape[0], "ref")
        it = np.asarray(iterates, dtype=np.float64)
        T = len(it) - 1
        csum = np.cumsum(it[1:], axis=0) if T > 0 else np.zeros((0, it.shape[1]))
        keep = sorted(set(range(0, T + 1, max(1, every))) | {T})
        avg = np.stack([it[0] if t == 0 else csum[t - 1] / t for t in keep])
        pol = it[keep]
        return cls(algorithm=algorithm, beta=float(beta), ref=np.asarray(ref, dtype=np.float64),
                   iterations=np.asarray(keep), policies=pol, averaged=avg,
                   gaps=np.array([gap_of_checked(P, p, float(beta), ref) for p in pol]),
                   avg_gaps=np.array([gap_of_checked(P, p, float(beta), ref) for p in avg]), **kw)
