"""Small data sets of every kind, and a tiny-model config, for the trainer tests."""

import json
import random

import pytest

from preflab.config import build
from preflab.train import TrainConfig


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def pair_rows(n=24, seed=0):
    rng = random.Random(seed)
    for i in range(n):
        a, b = rng.randint(2, 30), rng.randint(2, 30)
        yield {"prompt": f"What is {a} plus {b}?", "chosen": f" It is {a + b}, glad to help.",
               "rejected": f" No idea, {a + b + 1 + i % 5} maybe. Go away.", "score_chosen": 0.9,
               "score_rejected": round(0.1 + 0.05 * (i % 5), 2)}


def list_rows(n=24, seed=0):
    rng = random.Random(seed)
    for i in range(n):
        a = rng.randint(2, 30)
        answers = [f" {a} doubled is {2 * a + d}." for d in (0, 1, 3, 7)]
        yield {"prompt": f"Double {a}.", "responses": answers, "scores": [1.0, 0.6, 0.3, 0.1]}


def unpaired_rows(n=24, seed=0):
    for row in pair_rows(n, seed):
        yield {"prompt": row["prompt"], "completion": row["chosen"], "label": True}
        yield {"prompt": row["prompt"], "completion": row["rejected"], "label": False}


@pytest.fixture(scope="session")
def data_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("prefs")
    return {"pairwise": _write(d / "pairs.jsonl", pair_rows()), "listwise": _write(d / "lists.jsonl", list_rows()),
            "unpaired": _write(d / "unpaired.jsonl", unpaired_rows())}


@pytest.fixture
def tiny_config(tmp_path, data_files):
    """A builder: tiny_config(kind, key=value, ...) -> TrainConfig for a 2-layer Llama, a few steps."""

    def make(kind="pairwise", *overrides):
        base = [f"data.train={data_files[kind]}", "data.max_prompt_length=32", "data.max_completion_length=16",
                f"data.cache_dir={tmp_path / 'cache'}", f"train.output_dir={tmp_path / 'run'}", "train.progress=false",
                "train.batch_size=4", "train.max_steps=2", "optim.lr=1e-3", "optim.scheduler=constant",
                "model.tiny={hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, "
                "num_key_value_heads: 2}"]
        return build(TrainConfig, None, base + list(overrides))

    return make
