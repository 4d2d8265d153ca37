"""Offline training: any registered objective on any HF causal LM, with preflab's log-prob engine.

``train(config)`` runs ``loop.Trainer``; ``TrainConfig`` (``config.py``) says what to train.
"""

from .config import (DataConfig, ModelConfig, ObjectiveConfig, OptimConfig, ReferenceConfig, RunConfig,
                     TrainConfig)
from .loop import Trainer, TrainingDiverged, train
from .needs import Needs, check_data, needs_of

__all__ = ["train", "Trainer", "TrainingDiverged", "TrainConfig", "ModelConfig", "DataConfig", "ObjectiveConfig",
           "ReferenceConfig", "OptimConfig", "RunConfig", "Needs", "needs_of", "check_data"]
