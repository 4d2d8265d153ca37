"""Who decides which response is better: ground truth for synthetic tasks, reward models, pairwise models,
LLM judges over an OpenAI-compatible API, Python callables, and their noisy mixtures.

Every oracle answers ``compare(prompts, first, second)`` with ``P(first[i] preferred to second[i])``
(float64 [n]); ``prefs(prompt, responses)`` gives the [K, K] matrix a ScoreBatch's ``prefs[b]`` holds, and
``sample_labels(..., rng)`` draws an annotator's 0/1 labels. :class:`LabelLog` keeps labels on disk so an
interrupted run resumes without asking twice.

>>> import numpy as np
>>> truth = RewardOracle(lambda prompt, response: len(response), temperature=1.0, name="length")
>>> truth.prefs("q", ["a", "abc"]).round(4).tolist()
[[0.5, 0.1192], [0.8808, 0.5]]
>>> Noisy(truth, flip=0.2).compare(["q"], ["abc"], ["a"]).round(4).tolist()    # 0.8 * 0.8808 + 0.2 * 0.1192
[0.7285]
>>> Noisy(truth, flip=0.2).sample_labels(["q"] * 8, ["abc"] * 8, ["a"] * 8, np.random.default_rng(0)).tolist()
[1, 1, 1, 0, 1, 1, 1, 0]
"""

from .base import Oracle
from .bradley_terry import bt_matrix, bt_probability, sigmoid
from .callable_oracle import CallableOracle
from .embedding import EmbeddingSimilarityOracle, minilm_path
from .errors import OracleError
from .ground_truth import AnnotatorMixture, GroundTruth
from .labels import LabelLog, label_key
from .llm_judge import DEFAULT_SYSTEM, DEFAULT_TEMPLATE, LLMJudge
from .mixture import Mixture
from .noisy import Noisy
from .pairwise_model import PairwiseModelOracle
from .position_bias import PositionBias, combine_orders, position_bias
from .reward import RewardOracle
from .reward_model import RewardModelOracle
from .verdict import Verdict, parse_verdict, verdict_probability

__all__ = [
    "Oracle", "OracleError", "GroundTruth", "AnnotatorMixture", "CallableOracle", "RewardOracle", "Noisy", "Mixture",
    "RewardModelOracle", "EmbeddingSimilarityOracle", "PairwiseModelOracle", "LLMJudge", "LabelLog", "PositionBias",
    "position_bias", "combine_orders", "parse_verdict", "verdict_probability", "Verdict", "bt_probability",
    "bt_matrix", "sigmoid", "label_key", "minilm_path", "DEFAULT_TEMPLATE", "DEFAULT_SYSTEM",
]
