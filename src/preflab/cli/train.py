"""``preflab train --config FILE.yaml [key=value ...]``: offline training with any registered objective."""

from __future__ import annotations

import os

from preflab.config import build, keys_of


def add_parser(sub) -> None:
    from preflab.train.config import TrainConfig

    p = sub.add_parser("train", help="train a policy on a preference data set with any objective",
                       description="Train a policy offline. Settings come from a YAML file and key=value overrides "
                                   "(e.g. objective.name=ipo optim.lr=1e-6 train.batch_size=16); every key is "
                                   "checked before anything loads. Valid keys: " + ", ".join(keys_of(TrainConfig)))
    p.add_argument("--config", help="a YAML file (see examples/configs/)")
    p.add_argument("overrides", nargs="*", metavar="key=value")


def run(args) -> int:
    from preflab.train import TrainConfig, train
    from preflab.train.loop import objective_of
    from preflab.train.config import SYNONYMS

    config = build(TrainConfig, args.config, args.overrides, synonyms=SYNONYMS)
    objective_of(config)            # a bad name or value fails before anything loads
    run_dir = train(config)
    if os.environ.get("RANK", "0") == "0":  # one line from a multi-process launch
        print(f"run folder: {run_dir}")
    return 0
