"""The trainer's arithmetic against independent computations: the logged learning rate against the warmup and
decay formulas, clipped AdamW steps by hand, resume bit for bit with dropout on, a step after the first (policy
no longer equal to the reference) for objectives that read per-token reference log-probs, and evaluation on its
own file. Each of these guards a one-line change that once passed the whole suite (issue 13)."""

import copy
import json
import math
import random
import shutil
from pathlib import Path

import pytest
import torch

from preflab.data import PreferenceDataset, PreferenceExample
from preflab.objectives import ScoreBatch, get_objective
from preflab.train import Trainer, train
from preflab.train.setup import build_setup

from .conftest import _write, pair_rows


def _rows(run_dir):
    return {r["step"]: r for r in map(json.loads, (Path(run_dir) / "metrics.jsonl").read_text().splitlines())}


# -- the learning-rate schedule ---------------------------------------------------------------------------

@pytest.mark.parametrize("scheduler", ["cosine", "linear", "constant"])
def test_the_logged_learning_rate_follows_warmup_and_decay(tiny_config, scheduler):
    base, warmup, total = 1e-3, 3, 8
    run = train(tiny_config("pairwise", f"optim.scheduler={scheduler}", f"optim.warmup_steps={warmup}",
                            f"train.max_steps={total}", f"optim.lr={base}"))
    rows = _rows(run)

    def lr(t):                      # the rate of step t + 1 (0-based t), logged after step t
        if t < warmup:
            return base * t / warmup
        if scheduler == "constant":
            return base
        frac = (t - warmup) / (total - warmup)
        return base * (0.5 * (1 + math.cos(math.pi * frac)) if scheduler == "cosine" else 1 - frac)

    for step in range(1, total + 1):
        assert rows[step]["learning_rate"] == pytest.approx(lr(step), rel=1e-9, abs=1e-15), step


def test_warmup_ratio_counts_a_share_of_the_steps(tiny_config):
    run = train(tiny_config("pairwise", "optim.scheduler=constant", "optim.warmup_ratio=0.5", "train.max_steps=4"))
    assert [_rows(run)[s]["learning_rate"] for s in (1, 2, 3)] == pytest.approx([5e-4, 1e-3, 1e-3])


# -- clipped AdamW steps by hand ---------------------------------------------------------------------------

def test_two_clipped_adamw_steps_by_hand(tiny_config, tmp_path):
    common = ("optim.max_grad_norm=0.001", "optim.lr=1e-2", "optim.weight_decay=0.1", "train.max_steps=2")
    cfg = tiny_config("pairwise", *common, f"train.output_dir={tmp_path / 'hand'}")
    t = Trainer(cfg, build_setup(cfg, get_objective("dpo")))
    t.s.model.train()
    params = {n: p for n, p in t.s.model.named_parameters() if p.requires_grad}
    m = {n: torch.zeros_like(p) for n, p in params.items()}
    v = {n: torch.zeros_like(p) for n, p in params.items()}
    b1, b2, eps, lr, wd, clip = 0.9, 0.999, 1e-8, 1e-2, 0.1, 1e-3
    norms = []
    for step in range(2):
        t.accumulate(step)                                             # the gradient (tested elsewhere)
        with torch.no_grad():
            norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in params.values()))
            norms.append(norm)
            scale = min(1.0, clip / (norm + 1e-6))
            k = step + 1
            for n, p in params.items():
                g = p.grad * scale
                p.mul_(1 - lr * wd)                                    # decoupled weight decay
                m[n].mul_(b1).add_(g, alpha=1 - b1)
                v[n].mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v[n] / (1 - b2 ** k)).sqrt().add_(eps)
                p.addcdiv_(m[n], denom, value=-lr / (1 - b1 ** k))
    assert min(norms) > 10 * clip                                      # the clip really engaged
    by_hand = {n: p.detach().clone() for n, p in params.items()}

    from safetensors.torch import load_file
    run = train(tiny_config("pairwise", *common, f"train.output_dir={tmp_path / 'trainer'}"))
    trained = load_file(str(run / "final" / "model.safetensors"))
    for n, w in by_hand.items():
        torch.testing.assert_close(trained[n], w, rtol=1e-5, atol=1e-7)
    rows = _rows(run)
    assert [rows[1]["grad_norm"], rows[2]["grad_norm"]] == pytest.approx(norms, rel=1e-4)   # logged before clipping


# -- resume with dropout on ----------------------------------------------------------------------------------

def test_resume_is_bit_exact_with_dropout_on(tiny_config, tmp_path):
    tiny = ("model.tiny={hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, "
            "num_key_value_heads: 2, attention_dropout: 0.3}")
    common = (tiny, "train.max_steps=6", "train.save_every=3", "train.keep_checkpoints=5")
    whole = train(tiny_config("pairwise", *common, f"train.output_dir={tmp_path / 'whole'}"))
    cut = tmp_path / "cut"
    (cut / "checkpoints").mkdir(parents=True)
    shutil.copytree(whole / "checkpoints" / "step-00000003", cut / "checkpoints" / "step-00000003")
    torch.manual_seed(12345)                     # whatever the process's RNG holds, resume must restore the saved one
    random.seed(12345)
    train(tiny_config("pairwise", *common, "train.resume=true", f"train.output_dir={cut}"))
    a, b = _rows(whole), _rows(cut)
    for step in (4, 5, 6):
        assert a[step]["loss"] == b[step]["loss"], step
        assert a[step]["grad_norm"] == b[step]["grad_norm"], step


def test_dropout_changes_the_loss_so_the_resume_test_can_fail(tiny_config, tmp_path):
    """The resume test above relies on dropout being live in training: two draws of the same step differ."""
    tiny = ("model.tiny={hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, "
            "num_key_value_heads: 2, attention_dropout: 0.3}")
    cfg = tiny_config("pairwise", tiny)
    t = Trainer(cfg, build_setup(cfg, get_objective("dpo")))
    t.s.model.train()
    torch.manual_seed(0)
    first, *_ = t.accumulate(0)
    torch.manual_seed(1)
    second, *_ = t.accumulate(0)
    assert first != second


# -- a step after the first, against plain forward passes ------------------------------------------------------

def _token_logps(model, examples, K):
    """[B, K, T] per-token log-probs by one plain forward pass per (prompt, completion), padded with zeros."""
    T = max(len(c) for e in examples for c in e.completion_ids)
    out = torch.zeros(len(examples), K, T, dtype=torch.float64)
    mask = torch.zeros(len(examples), K, T, dtype=torch.bool)
    with torch.no_grad():
        for b, e in enumerate(examples):
            for k, c in enumerate(e.completion_ids):
                ids = torch.tensor([list(e.prompt_ids) + list(c)])
                logp = torch.log_softmax(model(ids).logits[0].double(), -1)
                for t, tok in enumerate(c):
                    out[b, k, t] = logp[len(e.prompt_ids) - 1 + t, tok]
                    mask[b, k, t] = True
    return out, mask


def _by_hand(objective, examples, policy, ref):
    K = max(len(e.completion_ids) for e in examples)
    tok, mask = _token_logps(policy, examples, K)
    rtok, _ = _token_logps(ref, examples, K)
    fields = dict(policy_logps=tok.sum(-1), ref_logps=rtok.sum(-1), lengths=mask.sum(-1), token_logps=tok,
                  token_mask=mask, ref_token_logps=rtok)
    fields["ranks"] = torch.tensor([e.ranks for e in examples])
    if examples[0].scores is not None:
        fields["rewards"] = torch.tensor([e.scores for e in examples], dtype=torch.float64)
    if examples[0].prefs is not None:
        fields["prefs"] = torch.tensor([e.prefs for e in examples], dtype=torch.float64)
    return float(objective(ScoreBatch(**fields)).loss)


def _online_pairs(n=12, seed=0):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = rng.random()
        out.append(PreferenceExample(index=i, prompt_ids=[1] + [rng.randrange(100, 2000) for _ in range(3)],
                                     completion_ids=[[rng.randrange(100, 2000) for _ in range(rng.randint(2, 5))]
                                                     for _ in range(2)],
                                     ranks=[0, 1], scores=None, labels=None, prefs=[[0.5, p], [1 - p, 0.5]]))
    return PreferenceDataset.from_examples(out, kind="pairwise", style="standard", fingerprint=f"pairs-{seed}",
                                           stats={"rows": n}, tokenizer_name="smollm2")


@pytest.mark.parametrize("name, kind, hparams", [("ld_dpo", "pairwise", {"beta": 0.5, "alpha": 0.3}),
                                                 ("nash_md", "online", {"beta": 0.5}),
                                                 ("grpo", "listwise", {"beta": 0.5})])
def test_a_step_after_the_first_against_plain_forward_passes(tiny_config, name, kind, hparams):
    data = _online_pairs() if kind == "online" else None
    cfg = tiny_config("pairwise" if kind == "online" else kind, f"objective.name={name}", "optim.lr=3e-2",
                      *[f"objective.params.{k}={v}" for k, v in hparams.items()])
    objective = get_objective(name, **hparams)
    t = Trainer(cfg, build_setup(cfg, objective, data))
    reference = copy.deepcopy(t.s.model).eval()                       # the initial policy is the reference
    t.s.model.train()
    t.step(0)                                                          # now policy != reference
    loss, *_ = t.accumulate(1)
    examples = t.local_examples(t.batch_indices(1), t.s.train_data)
    t.s.model.eval()
    expected = _by_hand(objective, examples, t.s.model, reference)
    assert loss == pytest.approx(expected, rel=1e-4, abs=1e-6)
    same = _by_hand(objective, examples, t.s.model, t.s.model)          # the reference taken from the policy
    assert abs(same - expected) > 1e-3 * max(1.0, abs(expected))      # would be told apart


# -- evaluation on its own file --------------------------------------------------------------------------------

def test_evaluation_on_its_own_file_uses_that_files_reference_log_probs(tiny_config, tmp_path):
    eval_file = _write(tmp_path / "eval.jsonl", pair_rows(12, seed=5))
    cfg = tiny_config("pairwise", f"data.eval={eval_file}", "train.max_steps=3", "optim.lr=3e-3")
    objective = get_objective("dpo")
    t = Trainer(cfg, build_setup(cfg, objective))
    reference = copy.deepcopy(t.s.model).eval()
    run = t.run()
    got = json.loads((run / "eval.json").read_text())["eval/loss"]
    t.s.model.eval()
    examples = [t.s.eval_data[i] for i in range(len(t.s.eval_data))]
    expected = _by_hand(objective, examples, t.s.model, reference)
    assert got == pytest.approx(expected, rel=1e-4)
