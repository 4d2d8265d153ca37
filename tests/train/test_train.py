"""The trainer: it learns, every objective trains, accumulation does not change the loss, resume is
bit-exact after kill -9, a NaN stops the run and keeps the last good checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from preflab.objectives import get_objective, list_objectives
from preflab.train import Trainer, TrainingDiverged, train
from preflab.train.setup import build_setup


def metrics(run_dir):
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r for r in rows}  # the last row of each step (a resumed run rewrites later steps)


def test_dpo_on_a_tiny_model_learns_the_preference(tiny_config):
    cfg = tiny_config("pairwise", "train.max_steps=12", "optim.lr=3e-3")
    run = train(cfg)
    rows = metrics(run)
    first, last = rows[1], rows[12]
    assert first["rewards/margins"] == 0.0 and abs(first["loss"] - 0.6931) < 1e-3   # policy == reference
    assert last["rewards/margins"] > 0.3 and last["loss"] < first["loss"] - 0.05
    for key in ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "logps/chosen", "logps/rejected",
                "grad_norm", "learning_rate", "examples_per_s", "tokens_per_s"):
        assert key in last
    assert (run / "final" / "model.safetensors").exists() and (run / "final" / "tokenizer.json").exists()
    assert (run / "config.yaml").exists()


# every objective trains on the data it reads (those that need an oracle's prefs train in `preflab online`)
ONLINE_ONLY = {"online_ipo", "egpo", "nash_md", "irepo"}


def kind_for(spec):
    if spec.data == "unpaired" and spec.name not in ("dro",):
        return "unpaired"
    if spec.data in ("listwise", "policy_gradient") or spec.name in ("sppo", "dno", "dro"):
        return "listwise"
    return "pairwise"


@pytest.fixture(scope="module")
def opponent_model(tmp_path_factory):
    """A saved tiny model to serve as an opponent / further reference."""
    from preflab.models import load_tokenizer, tiny_llama

    path = tmp_path_factory.mktemp("opponent")
    tok = load_tokenizer("smollm2")
    tiny_llama(vocab_size=len(tok), seed=7, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2).save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("name", sorted(s.name for s in list_objectives() if s.name not in ONLINE_ONLY))
def test_every_objective_trains(name, tiny_config, opponent_model):
    spec = get_objective(name).spec
    overrides = ["train.max_steps=1", "train.save_final=false", f"objective.name={name}"]
    if spec.needs_opponents:
        overrides.append(f"opponents=[{opponent_model}, {opponent_model}]" if name == "mnpo" else f"opponents=[{opponent_model}]")
    if "extra_ref_logps" in spec.requires:
        overrides.append(f"reference.extra=[{opponent_model}]")
    cfg = tiny_config(kind_for(spec), *overrides)
    rows = metrics(train(cfg))
    assert torch.isfinite(torch.tensor(rows[1]["loss"])) and rows[1]["grad_norm"] > 0


@pytest.fixture
def lists_with_prefs(data_files):
    """The listwise file with an oracle's preference matrices: P_ij = sigmoid(s_i - s_j) of its scores."""
    return prefs_data(data_files, K=4)


def prefs_data(data_files, K, kind="listwise"):
    import dataclasses

    from preflab.data import PreferenceDataset, load_preferences
    from preflab.models import load_tokenizer

    data = load_preferences(data_files["listwise"], load_tokenizer("smollm2"), max_prompt_length=32,
                            max_completion_length=16)
    examples = []
    for e in data:
        keep = [0, 2, 1, 3][:K]                          # pairs: the best and the third response
        s = torch.tensor([e.scores[k] for k in keep], dtype=torch.float64)
        examples.append(dataclasses.replace(e, completion_ids=[e.completion_ids[k] for k in keep],
                                            ranks=list(range(K)), scores=s.tolist(),
                                            prefs=torch.sigmoid(s[:, None] - s[None, :]).tolist()))
    return PreferenceDataset.from_examples(examples, kind=kind, style="standard", fingerprint=f"{kind}+prefs{K}",
                                           stats={}, tokenizer_name="smollm2")


def test_prefs_survive_saving(lists_with_prefs, tmp_path):
    from preflab.data import PreferenceDataset

    lists_with_prefs.save(tmp_path / "d")
    back = PreferenceDataset.load(tmp_path / "d")
    assert back[3].prefs == lists_with_prefs[3].prefs
    assert back[3].prefs[0][1] == pytest.approx(float(torch.sigmoid(torch.tensor(0.7, dtype=torch.float64))))


@pytest.mark.parametrize("name", ["online_ipo", "egpo", "nash_md", "sppo", "irepo"])
def test_objectives_that_read_an_oracles_prefs_train(name, tiny_config, data_files):
    kind = "pairwise" if get_objective(name).spec.data == "pairwise" else "listwise"
    cfg = tiny_config(kind, "train.max_steps=2", "train.save_final=false", f"objective.name={name}")
    rows = metrics(train(cfg, train_data=prefs_data(data_files, K=4 if name == "sppo" else 2, kind=kind)))
    assert torch.isfinite(torch.tensor(rows[1]["loss"])) and rows[1]["grad_norm"] > 0
    assert rows[2]["loss"] != rows[1]["loss"]


def test_online_objectives_are_refused_offline_with_the_reason(tiny_config):
    with pytest.raises(ValueError, match="objective 'online_ipo' cannot train on pairwise data: it needs pairwise "
                                         "preference probabilities"):
        train(tiny_config("pairwise", "objective.name=online_ipo"))
    with pytest.raises(ValueError, match="kto' cannot train on listwise data: it needs desirable/undesirable labels"):
        train(tiny_config("listwise", "objective.name=kto"))


def test_a_pair_reads_as_a_desirable_and_an_undesirable_response():
    """Unpaired objectives (KTO, BCO) train on pairs as TRL unpairs them: chosen +1, rejected -1."""
    from preflab.data import PreferenceExample
    from preflab.train.batches import signals

    pair = lambda i, ranks: PreferenceExample(index=i, prompt_ids=[1], completion_ids=[[2], [3]], ranks=ranks,  # noqa: E731
                                              scores=None, labels=None)
    assert signals([pair(0, [0, 1]), pair(1, [0, 1])], 2)["labels"].tolist() == [[1, -1], [1, -1]]
    assert "labels" not in signals([pair(0, [0, 0])], 2)            # a tie is neither


def _grads(setup):
    return [p.grad.clone() for p in setup.trainable]


@pytest.mark.parametrize("objective", ["dpo", "ipo", "simpo"])
def test_gradient_accumulation_leaves_loss_and_gradients_unchanged(tiny_config, objective):
    results = []
    for micro in ("null", "1", "2"):
        cfg = tiny_config("pairwise", f"objective.name={objective}", f"train.micro_batch_size={micro}")
        trainer = Trainer(cfg, build_setup(cfg, get_objective(objective)))
        loss, *_ = trainer.accumulate(0)
        results.append((loss, _grads(trainer.s)))
    (l0, g0), *rest = results
    for loss, grads in rest:
        assert abs(loss - l0) < 1e-6
        for a, b in zip(grads, g0):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_config, monkeypatch):
    cfg = tiny_config("pairwise", "train.max_steps=6", "train.save_every=2")
    trainer = Trainer(cfg, build_setup(cfg, get_objective("dpo")))
    real = trainer.scored

    def poisoned(examples, train=True):
        out, n = real(examples, train)
        if trainer.s.scheduler.last_epoch >= 3:   # the 4th step goes bad
            out.loss = out.loss * float("nan")
        return out, n

    monkeypatch.setattr(trainer, "scored", poisoned)
    with pytest.raises(TrainingDiverged, match=r"step 4: loss nan .* not finite; stopped before the update\. "
                                               r"The last good state is saved at .*step-00000003"):
        trainer.run()
    state = torch.load(Path(cfg.train.output_dir) / "checkpoints" / "step-00000003" / "state.pt", weights_only=False)
    assert all(torch.isfinite(w).all() for w in state["weights"].values())
    assert all(torch.isfinite(p).all() for p in trainer.s.model.parameters())


def _cli(cfg_args, cwd):
    return [sys.executable, "-m", "preflab.cli", "train", *cfg_args]


def test_resume_after_kill_minus_nine_is_bit_exact(tiny_config, tmp_path):
    cfg = tiny_config("pairwise")
    common = [f"data.train={cfg.data.train}", "data.max_prompt_length=32", "data.max_completion_length=16",
              f"data.cache_dir={cfg.data.cache_dir}", "train.progress=false", "train.batch_size=4",
              "train.max_steps=10", "train.save_every=2", "optim.lr=1e-3", "optim.warmup_steps=3",
              "model.tiny={hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, "
              "num_key_value_heads: 2}"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    whole = tmp_path / "whole"
    subprocess.run(_cli(common + [f"train.output_dir={whole}"], tmp_path), check=True, env=env, capture_output=True)
    cut = tmp_path / "cut"
    proc = subprocess.Popen(_cli(common + [f"train.output_dir={cut}"], tmp_path), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (cut / "checkpoints" / "step-00000004").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its checkpoint at step 4"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = metrics(cut) if (cut / "metrics.jsonl").exists() else {}
    assert max(done, default=0) < 10, "the kill came too late to test anything"
    subprocess.run(_cli(common + [f"train.output_dir={cut}", "train.resume=true"], tmp_path), check=True, env=env,
                   capture_output=True)
    a, b = metrics(whole), metrics(cut)
    assert sorted(b) == list(range(1, 11))
    for step in range(5, 11):
        assert a[step]["loss"] == b[step]["loss"], step             # bit for bit
        assert a[step]["grad_norm"] == b[step]["grad_norm"], step
    wa = torch.load(whole / "checkpoints" / "step-00000008" / "state.pt", weights_only=False)["weights"]
    wb = torch.load(cut / "checkpoints" / "step-00000008" / "state.pt", weights_only=False)["weights"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_loss_in_a_file_trains_like_the_registered_one(tiny_config, tmp_path):
    """objective.name=file:<path.py>:<fn> (how `preflab discover` exports its best losses): DPO written by hand
    in a file gives the registry's DPO losses step for step."""
    from preflab.train import train

    f = tmp_path / "my_dpo.py"
    f.write_text("import torch.nn.functional as F\n\n\ndef my_dpo(batch, beta):\n"
                 "    pi, ref = batch.policy_logps, batch.ref_logps\n"
                 "    return -F.logsigmoid(beta * ((pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])))\n")
    from preflab.objectives.registry import unregister

    before = {s.name for s in list_objectives()}
    runs = {}
    try:
        for name in ("dpo", f"file:{f}:my_dpo"):
            cfg = tiny_config("pairwise", f"objective.name={name}", "objective.params={beta: 0.3}",
                              f"train.output_dir={tmp_path / str(len(runs))}")
            runs[name] = metrics(train(cfg))
    finally:                                    # the file's loss was registered in this process: take it out
        for spec in list_objectives():
            if spec.name not in before:
                unregister(spec.name)
    a, b = runs.values()
    assert [a[s]["loss"] for s in (1, 2)] == pytest.approx([b[s]["loss"] for s in (1, 2)], abs=1e-6)
    with pytest.raises(ValueError, match="no function 'nope'"):
        from preflab.train.loop import objective_of
        objective_of(tiny_config("pairwise", f"objective.name=file:{f}:nope"))


def test_the_same_loss_file_can_be_asked_for_twice_in_one_process(tmp_path):
    from preflab.discover.export import get_objective_or_file
    from preflab.objectives.registry import unregister

    f = tmp_path / "hinge.py"
    f.write_text("import torch\n\n\ndef hinge(batch, beta):\n"
                 "    rho = (batch.policy_logps[:, 0] - batch.ref_logps[:, 0]) - (batch.policy_logps[:, 1] - batch.ref_logps[:, 1])\n"
                 "    return torch.relu(1 - beta * rho)\n")
    a = get_objective_or_file(f"file:{f}:hinge", beta=0.5)
    try:
        b = get_objective_or_file(f"file:{f}:hinge", beta=2.0)          # once for training, once for evaluation
        assert a.name == b.name and (a.hparams, b.hparams) == ({"beta": 0.5}, {"beta": 2.0})
    finally:
        unregister(a.name)
