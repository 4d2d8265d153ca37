"""The online loop's parts: what each method trains on (against hand-computed targets), rollouts, the
Nash-MD mixture sampler, evaluation, the synthetic tasks' ground truth, and one short loop end to end."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from preflab.online import METHODS, build_round, get_method, sample, win_rates
from preflab.online.evaluate import kl_to_reference, pool_gap, response_gap
from preflab.online.rollout import GeometricMixture
from preflab.tasks import get_task

P4 = np.array([[0.5, 0.9, 0.6, 0.7],
               [0.1, 0.5, 0.2, 0.4],
               [0.4, 0.8, 0.5, 0.3],
               [0.3, 0.6, 0.7, 0.5]])
SAMPLES = [[11, 2], [12, 2], [13, 2], [14, 2]]
PROMPT = [1, 5, 6]


def one(name, **kw):
    return build_round(get_method(name), [PROMPT], [SAMPLES[: get_method(name).k]],
                       [P4[: get_method(name).k, : get_method(name).k]], np.random.default_rng(0), **kw)


def test_win_rates_include_the_self_term():
    np.testing.assert_allclose(win_rates(P4), [(0.5 + 0.9 + 0.6 + 0.7) / 4, 1.2 / 4, 2.0 / 4, 2.1 / 4])


@pytest.mark.parametrize("name", ["iterative_dpo", "inpo", "mnpo"])
def test_best_vs_worst_pairs(name):
    (ex,) = one(name)
    # win rates 0.675, 0.3, 0.5, 0.525: sample 0 is best, sample 1 worst
    assert ex.completion_ids == [SAMPLES[0], SAMPLES[1]]
    assert ex.ranks == [0, 1] and ex.prompt_ids == PROMPT
    assert ex.prefs == [[0.5, 0.9], [pytest.approx(0.1), 0.5]]


def test_a_pair_below_the_margin_is_skipped():
    assert build_round(get_method("iterative_dpo"), [PROMPT], [SAMPLES], [P4], np.random.default_rng(0),
                       margin=0.4) == []
    tie = np.full((4, 4), 0.5)
    assert build_round(get_method("iterative_dpo"), [PROMPT], [SAMPLES], [tie], np.random.default_rng(0)) == []


def test_lists_carry_win_rates_ranks_and_prefs():
    (ex,) = one("sppo")
    assert ex.scores == pytest.approx([0.675, 0.3, 0.5, 0.525])
    assert ex.ranks == [0, 3, 2, 1]
    assert ex.prefs == P4.tolist()
    (ex,) = one("grpo", rewards=[[1.0, -1.0, 0.5, 0.0]])
    assert ex.scores == [1.0, -1.0, 0.5, 0.0]                   # an oracle's rewards replace win rates


def test_pairs_for_online_ipo_and_egpo_put_the_preferred_first():
    P = np.array([[0.5, 0.3], [0.7, 0.5]])
    for name in ("online_ipo", "egpo"):             # their losses are symmetric in the two slots
        (ex,) = build_round(get_method(name), [PROMPT], [SAMPLES[:2]], [P], np.random.default_rng(0))
        assert ex.completion_ids == [SAMPLES[1], SAMPLES[0]]
        assert ex.prefs == [[0.5, 0.7], [pytest.approx(0.3), 0.5]]


def test_online_dpo_orders_by_a_bernoulli_draw():
    P = np.array([[0.5, 0.8], [0.2, 0.5]])
    firsts = [build_round(get_method("online_dpo"), [PROMPT], [SAMPLES[:2]], [P], np.random.default_rng(s))[0]
              .completion_ids[0] == SAMPLES[0] for s in range(400)]
    assert abs(np.mean(firsts) - 0.8) < 3 * np.sqrt(0.8 * 0.2 / 400)


def test_spin_contrasts_the_sft_answer_with_the_sample():
    (ex,) = build_round(get_method("spin"), [PROMPT], [SAMPLES[:1]], [np.full((1, 1), 0.5)],
                        np.random.default_rng(0), gold=[[20, 21, 2]])
    assert ex.completion_ids == [[20, 21, 2], SAMPLES[0]]
    with pytest.raises(ValueError, match="spin needs the SFT answer"):
        build_round(get_method("spin"), [PROMPT], [SAMPLES[:1]], [np.full((1, 1), 0.5)], np.random.default_rng(0))


def test_method_wiring():
    assert METHODS["inpo"].opponents == 1 and METHODS["inpo"].reference == "initial"
    assert METHODS["mnpo"].opponents == 2 and METHODS["ht_mnpo"].players
    assert METHODS["egpo"].train == {"extragradient": True}
    assert METHODS["sppo"].reference == "previous"          # SPPO: the reference is the round's start
    assert METHODS["dno"].reference is None and METHODS["dno"].opponents == 1
    assert METHODS["nash_md"].mixture
    with pytest.raises(ValueError, match="did you mean 'mnpo'"):
        get_method("mnp")


# -- rollouts -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    task = get_task("heterogeneous")
    return task, task.tokenizer(), task.model(seed=0), task.model(seed=1)


def test_rollouts_are_seeded_and_stop_at_eos(tiny):
    task, tok, model, _ = tiny
    prompts = [tok(p)["input_ids"] for p in task.prompts()]
    kw = dict(max_new_tokens=7, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, suppress_ids=[0, 1, 3])
    a, b, c = (sample(model, prompts, 3, seed=s, **kw) for s in (4, 4, 5))
    assert a == b and a != c
    assert len(a) == 4 and all(len(ks) == 3 for ks in a)
    for ks in a:
        for s in ks:
            assert 1 <= len(s) <= 7 and not {0, 1, 3} & set(s)          # no pad, BOS or unk sampled
            assert tok.eos_token_id not in s[:-1]


def test_geometric_mixture_logits(tiny):
    task, tok, model, ref = tiny
    ids = torch.tensor([tok("t1 : clear")["input_ids"]])
    with torch.no_grad():
        lp = torch.log_softmax(model(ids).logits[:, -1], -1)
        lr = torch.log_softmax(ref(ids).logits[:, -1], -1)
    mix = GeometricMixture(ref, 0.25, tok.pad_token_id, ids.shape[1], torch.ones_like(ids))
    out = mix(ids, model(ids).logits[:, -1].detach())
    torch.testing.assert_close(out, 0.75 * lp + 0.25 * lr)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        GeometricMixture(ref, 1.5, 0, 1, ids)


def test_kl_to_itself_is_zero_and_positive_otherwise(tiny):
    task, tok, model, ref = tiny
    prompts = [tok(p)["input_ids"] for p in task.prompts()]
    s = sample(model, prompts, 8, max_new_tokens=7, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id, seed=0)
    assert kl_to_reference(model, model, prompts, s, tok.pad_token_id) == pytest.approx(0.0, abs=1e-6)
    assert kl_to_reference(model, ref, prompts, s, tok.pad_token_id) > 0.01


def test_pool_gap():
    assert pool_gap({"sft": 0.3, "round_1": 0.45}) == 0.0
    assert pool_gap({"sft": 0.3, "round_1": 0.7}) == pytest.approx(0.4)


# -- tasks -----------------------------------------------------------------------------------------------------

def test_heterogeneous_task_is_intransitive_with_the_stated_margins():
    from scipy.special import expit
    oracle = get_task("heterogeneous").oracle()
    P = oracle.prefs("t0 :", ["formal formal", "casual casual", "vivid vivid"])
    s4, s8 = expit(4.0), expit(-8.0)
    assert P[0, 1] == pytest.approx(0.65 * s4 + 0.35 * s8)        # A over B: types 1 and 3
    assert P[1, 2] == pytest.approx(0.80 * s4 + 0.20 * s8)        # B over C: types 1 and 2
    assert P[2, 0] == pytest.approx(0.55 * s4 + 0.45 * s8)        # C over A: types 2 and 3
    assert oracle.compare(["t0 :"], ["clear"], ["um"])[0] == pytest.approx(expit(6.0))  # junk loses for everyone


def test_sentiment_reward():
    task = get_task("sentiment")
    assert task.score("t0 :", "great love movie") == pytest.approx(1 / (1 + np.exp(-4.0)))
    assert task.score("t0 :", "awful movie") == pytest.approx(1 / (1 + np.exp(2.0)))
    with pytest.raises(ValueError, match="unknown task 'sentimant'"):
        get_task("sentimant")


# -- the loop ----------------------------------------------------------------------------------------------

def test_one_round_of_iterative_dpo_beats_the_sft_policy(tmp_path):
    from preflab.online import OnlineConfig, run_online

    cfg = OnlineConfig(methods=["iterative_dpo"], rounds=1, prompts_per_round=32, steps_per_round=10,
                       eval_samples=16, sft_examples=500, sft_steps=60, output_dir=str(tmp_path / "run"), progress=False)
    metrics = run_online(cfg, log=lambda s: None)
    (row,) = metrics["methods"]["iterative_dpo"]
    assert row["win_rate_vs_ref"] > 0.6 and row["kl"] > 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["methods"]["iterative_dpo"][0]["round"] == 1
    labels = (tmp_path / "run" / "iterative_dpo" / "labels.jsonl").read_text().splitlines()
    assert len(labels) == 32 * 6                               # 4 samples -> 6 pairs per prompt, all logged
    # rerunning resumes: the finished round is read back, nothing is trained or labelled again
    again = run_online(cfg, log=lambda s: None)
    assert again["methods"]["iterative_dpo"] == metrics["methods"]["iterative_dpo"]


def test_a_failing_oracle_stops_the_round_and_a_rerun_reuses_its_labels(tmp_path):
    from preflab.online import OnlineConfig, run_online
    from preflab.oracles import CallableOracle, OracleError

    truth = get_task("heterogeneous").oracle()
    calls = {"n": 0, "fail_after": 40}

    def flaky(prompts, first, second):
        calls["n"] += len(prompts)
        if calls["n"] > calls["fail_after"]:
            raise OracleError("judge unreachable")
        return truth.compare(prompts, first, second)

    oracle = CallableOracle(compare_fn=flaky, batched=True, name="flaky-judge")
    cfg = OnlineConfig(methods=["iterative_dpo"], rounds=1, prompts_per_round=16, steps_per_round=2,
                       eval_samples=4, sft_examples=200, sft_steps=5, output_dir=str(tmp_path / "run"), progress=False)
    with pytest.raises(OracleError, match=r"(?s)iterative_dpo round 1 stopped: .* labels obtained so far are in .*"
                                          r"labels.jsonl; rerun the same command to resume"):
        run_online(cfg, log=lambda s: None, oracle=oracle)
    saved = len((tmp_path / "run" / "iterative_dpo" / "labels.jsonl").read_text().splitlines())
    assert saved >= 36                                         # whole prompts' worth of labels were kept
    calls.update(n=0, fail_after=10_000)
    metrics = run_online(cfg, log=lambda s: None, oracle=oracle)
    after = len((tmp_path / "run" / "iterative_dpo" / "labels.jsonl").read_text().splitlines())
    assert calls["n"] == after - saved                         # only labels not in the log were asked for
    assert 0 < calls["n"] <= 16 * 6 - saved                    # (repeated pairs within a round are asked once)
    assert len(metrics["methods"]["iterative_dpo"]) == 1


def test_a_run_killed_inside_a_rounds_training_resumes_from_its_checkpoint(tmp_path):
    """kill -9 during round 1's training; the rerun continues that training from the newest checkpoint and
    ends with the same metrics as a run never interrupted."""
    settings = ["methods=[iterative_dpo]", "rounds=1", "prompts_per_round=8", "steps_per_round=8", "checkpoint_every=2",
                "eval_samples=4", "sft_examples=200", "sft_steps=5", "batch_size=4", "progress=false"]
    cmd = lambda out: [sys.executable, "-m", "preflab.cli", "online", *settings, f"output_dir={out}"]  # noqa: E731
    from preflab.cli import QUIET_ENV
    env = {**{k: v for k, v in os.environ.items() if k not in QUIET_ENV}, "PYTHONHASHSEED": "random"}
    done = subprocess.run(cmd(tmp_path / "whole"), check=True, env=env, capture_output=True, text=True)
    assert "Loading weights" not in done.stderr and "Generating train split" not in done.stderr   # quiet by default
    cut = tmp_path / "cut"
    proc = subprocess.Popen(cmd(cut), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (cut / "iterative_dpo" / "round_0" / "checkpoints" / "step-00000004").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before its checkpoint at step 4"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (cut / "metrics.json").exists() or not json.loads((cut / "metrics.json").read_text())["methods"]
    subprocess.run(cmd(cut), check=True, env=env, capture_output=True)
    steps = [json.loads(line)["step"] for line in (cut / "iterative_dpo" / "round_0" / "metrics.jsonl").read_text().splitlines()
             if '"loss"' in line]
    assert steps.count(1) == 1 and steps.count(8) >= 1           # resumed (not restarted): step 1 was logged once
    assert not (cut / "iterative_dpo" / "round_0" / "checkpoints").exists()   # cleaned up once the round ended
    whole, resumed = (json.loads((d / "metrics.json").read_text())["methods"]["iterative_dpo"][0]
                      for d in (tmp_path / "whole", cut))
    for key in ("win_rate_vs_ref", "kl", "duality_gap", "examples"):
        assert resumed[key] == whole[key], key


def test_response_gap_is_the_best_single_responses_edge_by_hand():
    from preflab.oracles import RewardOracle

    oracle = RewardOracle(lambda prompt, response: float(len(response)), temperature=1.0, name="length")
    s = lambda d: 1 / (1 + np.exp(-d))                                      # noqa: E731
    # prompt 1: the policy says "a" and "abc"; the best candidate "abcd" wins (s(3) + s(1)) / 2 on average
    # prompt 2: the policy's own "xyz" is the best there is: its mean against {"xyz"} is 1/2, the gap 0
    gap = response_gap(oracle, ["p", "q"], [["abcd", "ab"], ["x"]], [["a", "abc"], ["xyz"]])
    assert gap == pytest.approx(((2 * (s(3) + s(1)) / 2 - 1) + 0.0) / 2, abs=1e-12)


def test_report_has_a_plot_per_metric_and_a_row_per_method_and_round(tmp_path):
    from preflab.online.report import FIGURES, write_report

    row = lambda r, w: {"round": r, "win_rate_vs_ref": w, "kl": 0.1 * r, "duality_gap": 0.0,   # noqa: E731
                        "response_gap": 0.2 / r, "examples": 10, "seconds": 1.0}
    metrics = {"task": "heterogeneous", "methods": {"inpo": [row(1, 0.7), row(2, 0.8)], "mnpo": [row(1, 0.75)]}}
    page = write_report(metrics, tmp_path).read_text()
    assert page.count("<tr><td>") == 3 and "<td>inpo</td><td>2</td><td>0.800</td>" in page
    assert "<td>0.100</td>" in page                                        # inpo round 2's response gap, 0.2 / 2
    for key, _ in FIGURES:
        assert (tmp_path / f"{key}.png").read_bytes()[:4] == b"\x89PNG"
    assert page.count("data:image/png;base64,") == len(FIGURES) == 4


def test_vllm_rollouts_keep_the_hf_contract(monkeypatch, tmp_path):
    """vLLM is not installed here (no GPU): a stand-in module records what preflab asks of vLLM's API and
    answers like it, so the adapter's requests and its conversion of vLLM's outputs are checked."""
    import types

    from preflab.online.loop import _hf_draw, _sampler
    from preflab.online.vllm_rollout import sample_vllm

    # on this machine (no vLLM, no CUDA) "auto" is HF generate and "vllm" is refused with the fix
    assert _sampler("auto") is _hf_draw
    with pytest.raises(ValueError, match="needs vLLM installed and a CUDA GPU; use rollout='hf'"):
        _sampler("vllm")
    with pytest.raises(ValueError, match="rollout must be 'auto', 'hf' or 'vllm'"):
        _sampler("vlm")
    seen = {}

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LLM:
        def __init__(self, model, **kw):
            seen["model"], seen["engine"] = model, kw

        def generate(self, prompts, params, use_tqdm):
            seen["prompts"], seen["params"] = prompts, [p.kw for p in params]
            done = lambda ids, why: types.SimpleNamespace(token_ids=ids, finish_reason=why)  # noqa: E731
            return [types.SimpleNamespace(outputs=[done([5, 6, 2], "stop"), done([7, 7, 7], "length")]),
                    types.SimpleNamespace(outputs=[done([8], "stop"), done([9, 2], "stop")])]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    out = sample_vllm(tmp_path, [[1, 4], [1]], 2, max_new_tokens=3, eos_id=2, pad_id=0, temperature=0.7, seed=10)
    assert out == [[[5, 6, 2], [7, 7, 7]], [[8, 2], [9, 2]]]          # EOS kept, added when vLLM stopped on it
    assert seen["model"] == str(tmp_path) and seen["prompts"] == [{"prompt_token_ids": [1, 4]}, {"prompt_token_ids": [1]}]
    assert [p["seed"] for p in seen["params"]] == [10, 11]
    assert seen["params"][0] | {"seed": 0} == dict(n=2, temperature=0.7, top_p=1.0, max_tokens=3, seed=0, stop_token_ids=[2],
                                                  logit_bias={0: -100.0}, skip_special_tokens=False)
    assert seen["engine"]["gpu_memory_utilization"] == 0.3
