"""Reference set-ups, LoRA, TR-DPO, evaluation, configs, two processes, and the real SmolLM2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from preflab.config import ConfigError, build
from preflab.objectives import get_objective
from preflab.train import Trainer, TrainConfig, train
from preflab.train.config import SYNONYMS
from preflab.train.setup import build_setup

from .test_train import metrics


def test_lora_with_the_disabled_adapter_as_reference(tiny_config):
    cfg = tiny_config("pairwise", "model.lora_r=4", "reference.mode=adapter", "train.max_steps=4", "optim.lr=1e-2")
    setup = build_setup(cfg, get_objective("dpo"))
    n_trainable = sum(p.numel() for p in setup.trainable)
    assert 0 < n_trainable < sum(p.numel() for p in setup.model.parameters()) / 10
    base_before = {n: p.detach().clone() for n, p in setup.model.named_parameters() if not p.requires_grad}
    run = Trainer(cfg, setup).run()
    rows = metrics(run)
    assert abs(rows[1]["loss"] - 0.693147) < 1e-5          # adapter starts at zero: policy == base model
    assert rows[4]["rewards/margins"] != 0
    for n, p in setup.model.named_parameters():             # only the adapter moved
        if not p.requires_grad:
            assert torch.equal(p, base_before[n]), n
    assert (run / "final" / "adapter_model.safetensors").exists()


def test_cached_reference_equals_live_copy(tiny_config):
    losses = {}
    for mode in ("cache", "copy"):
        cfg = tiny_config("pairwise", f"reference.mode={mode}", "train.max_steps=3",
                          f"train.output_dir={Path(tiny_config('pairwise').train.output_dir).parent / mode}")
        losses[mode] = [metrics(train(cfg))[s]["loss"] for s in (1, 2, 3)]
    assert losses["cache"] == pytest.approx(losses["copy"], abs=1e-6)
    assert losses["cache"][2] != losses["cache"][0]


def test_tr_dpo_moves_the_reference_toward_the_policy(tiny_config):
    cfg = tiny_config("pairwise", "reference.sync_steps=2", "reference.sync_alpha=0.5", "train.max_steps=2")
    setup = build_setup(cfg, get_objective("dpo"))
    ref_before = [p.detach().clone() for p in setup.ref_model.parameters()]
    Trainer(cfg, setup).run()
    for r0, r, p in zip(ref_before, setup.ref_model.parameters(), setup.model.parameters()):
        torch.testing.assert_close(r, 0.5 * r0 + 0.5 * p.detach())
    with pytest.raises(ValueError, match="TR-DPO.* needs reference.mode=copy"):
        build_setup(tiny_config("pairwise", "reference.sync_steps=2", "reference.mode=cache"), get_objective("dpo"))


def test_evaluation_is_written(tiny_config, data_files):
    cfg = tiny_config("pairwise", f"data.eval={data_files['pairwise']}", "train.eval_every=2", "train.max_steps=2")
    run = train(cfg)
    row = metrics(run)[2]
    assert "eval/loss" in row and "eval/rewards/accuracies" in row
    assert json.loads((run / "eval.json").read_text())["eval/loss"] > 0


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"unknown key 'optim.learning_rate'; did you mean 'optim.lr'\?"):
        build(TrainConfig, None, ["optim.learning_rate=1e-5"], synonyms=SYNONYMS)
    with pytest.raises(ConfigError, match=r"unknown key 'per_device_train_batch_size'; did you mean 'train.batch_size'"):
        build(TrainConfig, None, ["per_device_train_batch_size=8"], synonyms=SYNONYMS)
    with pytest.raises(ConfigError, match=r"unknown key 'optim.lrr'; did you mean 'optim.lr'\?"):
        build(TrainConfig, None, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match=r"'train.batch_size' must be an integer, got 'eight'"):
        build(TrainConfig, None, ["train.batch_size=eight"])
    with pytest.raises(ConfigError, match=r"'reference.mode'='frozen' must be one of"):
        build(TrainConfig, None, ["reference.mode=frozen"])
    cfg = build(TrainConfig, None, ["optim.lr=5e-7", "objective.params={beta: 0.2}"])
    assert cfg.optim.lr == 5e-7 and cfg.objective.params == {"beta": 0.2}


def test_cli_refuses_a_bad_objective_before_loading(tmp_path):
    out = subprocess.run([sys.executable, "-m", "preflab.cli", "train", "objective.name=dpoo", "data.train=x.jsonl"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "unknown objective 'dpoo'; did you mean 'dpo'?" in out.stderr
    out = subprocess.run([sys.executable, "-m", "preflab.cli", "train", "--config", "examples/configs/tiny_dpo.yaml",
                          "optim.lrr=1"], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert out.returncode == 2 and "unknown key 'optim.lrr'; did you mean 'optim.lr'?" in out.stderr


def test_two_processes_train_the_same_weights_as_one(tiny_config, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` on CPUs (accelerate's torchrun launcher; without
    --multi_gpu, accelerate starts a single process on a machine with no GPU): gloo, each process half the
    batch, gradients averaged: the weights equal a single process's with the same global batch."""
    cfg = tiny_config("pairwise")
    common = [f"data.train={cfg.data.train}", "data.max_prompt_length=32", "data.max_completion_length=16",
              f"data.cache_dir={cfg.data.cache_dir}", "train.progress=false", "train.batch_size=4",
              "train.max_steps=3", "optim.lr=1e-3", "optim.scheduler=constant",
              "model.tiny={hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, "
              "num_key_value_heads: 2}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, "-m", "preflab.cli", "train", *common, f"train.output_dir={one}"], check=True,
                   env=env, capture_output=True)
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533"]
    subprocess.run([*launch, "-m", "preflab.cli", "train", *common, f"train.output_dir={two}"], check=True, env=env,
                   capture_output=True)
    assert json.loads((two / "summary.json").read_text())["world_size"] == 2
    a, b = load_file(one / "final" / "model.safetensors"), load_file(two / "final" / "model.safetensors")
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    assert metrics(one)[3]["loss"] == pytest.approx(metrics(two)[3]["loss"], abs=1e-6)


def test_a_few_dpo_steps_on_smollm2_raise_the_margin(tmp_path, data_files):
    cfg = build(TrainConfig, None, [
        "model.name=smollm2", f"data.train={data_files['pairwise']}", "data.max_prompt_length=32",
        "data.max_completion_length=16", f"data.cache_dir={tmp_path / 'cache'}", f"train.output_dir={tmp_path / 'run'}",
        "train.progress=false", "train.batch_size=4", "train.max_steps=4", "optim.lr=2e-5", "optim.scheduler=constant",
        "train.save_final=false"])
    rows = metrics(train(cfg))
    assert rows[1]["rewards/margins"] == pytest.approx(0.0, abs=1e-6)
    assert rows[4]["rewards/margins"] > 0.05 and rows[4]["rewards/accuracies"] >= 0.75


def test_metrics_reach_the_tensorboard_tracker(tiny_config):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_config("pairwise", "train.trackers=[tensorboard]", "train.max_steps=3", "train.log_every=1")
    run = train(cfg)
    events = list(run.rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file was written"
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss", "rewards/margins", "rewards/accuracies", "logps/chosen"} <= tags
    logged = [e.value for e in acc.Scalars("loss")]
    assert logged == pytest.approx([metrics(run)[s]["loss"] for s in (1, 2, 3)], rel=1e-6)


def test_a_tracker_that_cannot_log_is_refused_not_skipped(tiny_config):
    with pytest.raises(ValueError, match="unknown tracker 'tensorbord'"):
        build_setup(tiny_config("pairwise", "train.trackers=[tensorbord]"), get_objective("dpo"))
    from accelerate.tracking import get_available_trackers
    if "mlflow" not in {str(t) for t in get_available_trackers()}:
        with pytest.raises(ValueError, match="'mlflow' is not installed"):
            build_setup(tiny_config("pairwise", "train.trackers=[mlflow]"), get_objective("dpo"))
