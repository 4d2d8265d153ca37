"""Exact tabular preference games: preference models, equilibria, duality gaps, and algorithm dynamics.

numpy and scipy only (plus ``preflab.objectives`` for the generic objective path); never transformers.
"""

from .equilibria import (NotCertified, best_response, duality_gap, exploitability, kl, maximal_lottery,
                         multiplayer_gap, multiplayer_nash, multiplayer_payoff, nash, policy_report,
                         regularized_nash, win_rate)
from .trajectory import Trajectory
from .preferences import (PREFERENCES, annotator_preferences, bradley_terry, check_policy, check_preference,
                          condorcet_annotators, condorcet_mixture, cyclic, empirical, is_transitive, make_preference,
                          mixture, random_preference)

__all__ = ["Trajectory", "NotCertified", "best_response", "duality_gap", "exploitability", "kl", "maximal_lottery",
           "multiplayer_gap", "multiplayer_nash", "multiplayer_payoff", "nash", "policy_report", "regularized_nash",
           "win_rate", "PREFERENCES", "annotator_preferences", "condorcet_annotators", "bradley_terry", "check_policy", "check_preference", "condorcet_mixture",
           "cyclic", "empirical", "is_transitive", "make_preference", "mixture", "random_preference"]

from .dynamics import ALGORITHMS, Algorithm, run_dynamics  # noqa: E402
from .general_sum import (GENERAL_SUM_ALGORITHMS, GeneralSumTrajectory, general_sum_best_responses,  # noqa: E402
                          general_sum_gaps, general_sum_payoffs, player_wins, run_general_sum)

__all__ += ["ALGORITHMS", "Algorithm", "run_dynamics", "train_objective", "GENERAL_SUM_ALGORITHMS",
            "GeneralSumTrajectory", "general_sum_best_responses", "general_sum_gaps", "general_sum_payoffs",
            "player_wins", "run_general_sum"]


def __getattr__(name):
    """``train_objective`` is imported on first use: it needs torch, the rest of preflab.games does not."""
    if name == "train_objective":
        from .objective_path import train_objective
        return train_objective
    raise AttributeError(f"module 'preflab.games' has no attribute '{name}'")
