"""The online loop: rollouts, oracle labels, round data per method, training on preflab's engine, evaluation."""

from .loop import OnlineConfig, run_online
from .methods import METHODS, Method, build_round, get_method, win_rates
from .rollout import sample

__all__ = ["OnlineConfig", "run_online", "METHODS", "Method", "build_round", "get_method", "win_rates", "sample"]
