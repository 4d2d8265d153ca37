"""EGPO's extragradient step in the trainer, against the same step done by hand; a composite objective's
state (BCO's running mean inside ``dpo + bco``) frozen in evaluation and carried through checkpoints."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from preflab.objectives import get_objective
from preflab.train import Trainer, train
from preflab.train.setup import build_setup


def _final(run_dir):
    from safetensors.torch import load_file
    return load_file(str(Path(run_dir) / "final" / "model.safetensors"))


def _named(trainer):
    return {n: p for n, p in trainer.s.model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("steps", [2, 4])
def test_extragradient_equals_the_step_by_hand_and_differs_from_plain_steps(tiny_config, tmp_path, steps):
    common = ("objective.name=ipo", f"train.max_steps={steps}", "optim.lr=5e-3")
    # by hand: per pair (a, b) of steps, g_a at w; w' = AdamW(w, g_a); g_b at w'; w <- AdamW from (w, state) with g_b
    cfg = tiny_config("pairwise", *common, f"train.output_dir={tmp_path / 'hand'}")
    t = Trainer(cfg, build_setup(cfg, get_objective("ipo", **cfg.objective.params)))
    t.s.model.train()
    params = _named(t)
    for a in range(0, steps, 2):
        saved_w = {n: p.detach().clone() for n, p in params.items()}
        saved_opt = {k: v for k, v in t.s.optimizer.state_dict().items()}
        saved_opt = torch.load(_roundtrip(saved_opt, tmp_path / f"opt{a}.pt"), weights_only=False)
        t.accumulate(a)
        t.clip_gradients()
        t.s.optimizer.step()                                     # to the extrapolated point
        t.accumulate(a + 1)                                      # the gradient there
        t.clip_gradients()
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(saved_w[n])
        t.s.optimizer.load_state_dict(saved_opt)
        t.s.optimizer.step()
    by_hand = {n: p.detach().clone() for n, p in params.items()}

    eg = _final(train(tiny_config("pairwise", *common, "optim.extragradient=true", f"train.output_dir={tmp_path / 'eg'}")))
    plain = _final(train(tiny_config("pairwise", *common, f"train.output_dir={tmp_path / 'plain'}")))
    for n, w in by_hand.items():
        torch.testing.assert_close(eg[n], w, rtol=1e-5, atol=1e-7)
    assert max(float((eg[n] - plain[n]).abs().max()) for n in by_hand) > 1e-4     # not online IPO's plain steps


def _roundtrip(obj, path):
    torch.save(obj, path)
    return path


def test_an_extragradient_run_resumes_between_the_two_steps_of_a_pair(tiny_config, tmp_path):
    common = ("objective.name=ipo", "train.max_steps=4", "optim.lr=5e-3", "optim.extragradient=true",
              "train.save_every=1", "train.keep_checkpoints=10")
    whole = train(tiny_config("pairwise", *common, f"train.output_dir={tmp_path / 'whole'}"))
    cut = tmp_path / "cut"
    (cut / "checkpoints").mkdir(parents=True)
    shutil.copytree(whole / "checkpoints" / "step-00000003", cut / "checkpoints" / "step-00000003")  # mid-pair
    resumed = train(tiny_config("pairwise", *common, "train.resume=true", f"train.output_dir={cut}"))
    a, b = _final(whole), _final(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def _rows(run_dir):
    return {r["step"]: r for r in map(json.loads, (Path(run_dir) / "metrics.jsonl").read_text().splitlines())}


def test_dpo_plus_bco_freezes_its_running_mean_in_evaluation_and_resumes_bit_for_bit(tiny_config, data_files, tmp_path):
    common = ("objective.name=dpo + bco", "train.max_steps=6", "train.save_every=3", "train.keep_checkpoints=5",
              f"data.eval={data_files['pairwise']}")
    cfg = tiny_config("pairwise", *common, f"train.output_dir={tmp_path / 'whole'}")
    objective = get_objective("dpo + bco")
    trainer = Trainer(cfg, build_setup(cfg, objective))
    assert objective.state is not None and objective.state.states[1] is objective.terms[1][1].state
    trainer.step(0)
    before = objective.terms[1][1].state.state_dict()
    trainer.evaluate()                                           # evaluation must not move BCO's running mean
    assert objective.terms[1][1].state.state_dict() == before and not objective.state.frozen
    whole = train(cfg)
    state = torch.load(whole / "checkpoints" / "step-00000003" / "state.pt", weights_only=False)
    assert set(state["objective"]) == {"1"} and state["objective"]["1"]["count"] > 1   # the bco term's mean
    cut = tmp_path / "cut"
    (cut / "checkpoints").mkdir(parents=True)
    shutil.copytree(whole / "checkpoints" / "step-00000003", cut / "checkpoints" / "step-00000003")
    train(tiny_config("pairwise", *common, "train.resume=true", f"train.output_dir={cut}"))
    a, b = _rows(whole), _rows(cut)
    for step in (4, 5, 6):
        assert a[step]["loss"] == b[step]["loss"], step           # bit for bit, BCO's delta included
        assert a[step]["bco/loss"] == b[step]["bco/loss"], step
