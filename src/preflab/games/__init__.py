"""Exact tabular preference games: preference models, equilibria, duality gaps, and algorithm dynamics.

numpy and scipy only (plus ``preflab.objectives`` for the generic objective path); never transformers.
"""

from .equilibria import (NotCertified, best_response, duality_gap, exploitability, kl, maximal_lottery,
                         multiplayer_gap, multiplayer_nash, multiplayer_payoff, nash, policy_report,
                         regularized_nash, win_rate)
from .trajectory import Trajectory
from .preferences import (PREFERENCES, bradley_terry, check_policy, check_preference, condorcet_mixture, cyclic,
                          empirical, is_transitive, make_preference, mixture, random_preference)

__all__ = ["Trajectory", "NotCertified", "best_response", "duality_gap", "exploitability", "kl", "maximal_lottery",
           "multiplayer_gap", "multiplayer_nash", "multiplayer_payoff", "nash", "policy_report", "regularized_nash",
           "win_rate", "PREFERENCES", "bradley_terry", "check_policy", "check_preference", "condorcet_mixture",
           "cyclic", "empirical", "is_transitive", "make_preference", "mixture", "random_preference"]

from .dynamics import ALGORITHMS, Algorithm, run_dynamics  # noqa: E402

__all__ += ["ALGORITHMS", "Algorithm", "run_dynamics", "train_objective"]


def __getattr__(name):
    """``train_objective`` is imported on first use: it needs torch, the rest of preflab.games does not."""
    if name == "train_objective":
        from .objective_path import train_objective
        return train_objective
    raise AttributeError(f"module 'preflab.games' has no attribute '{name}'")
