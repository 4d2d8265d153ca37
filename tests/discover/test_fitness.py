"""Fitness on exact games (trusted losses, in-process) and the tiny model's frontier score."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from preflab.discover.fitness import (HELD_OUT_GAMES, SEARCH_GAMES, curve, game_instance, games, register_candidate,
                                      score_policy)
from preflab.discover.tiny import frontier_score, prepare, tiny
from preflab.games import duality_gap
from preflab.objectives import ScoreBatch, get_objective


def _rho(batch):
    return (batch.policy_logps[:, 0] - batch.ref_logps[:, 0]) - (batch.policy_logps[:, 1] - batch.ref_logps[:, 1])


def dpo(batch, beta):
    return -F.logsigmoid(beta * _rho(batch))


def ipo(batch, beta):
    return (_rho(batch) - 1 / (2 * beta)) ** 2


def test_score_of_the_reference_is_zero_and_of_the_best_response_by_hand():
    P, ref = game_instance(3, 6)
    assert score_policy(P, ref, ref, 0.2)["score"] == pytest.approx(0.0, abs=1e-12)
    log_br = np.log(ref) + P @ ref / 0.2
    br = np.exp(log_br - log_br.max())
    br /= br.sum()
    s = score_policy(P, ref, br, 0.2)
    want = 0.5 * 1.0 + 0.5 * max(-1.0, 1 - duality_gap(P, br, 0.2, ref) / duality_gap(P, ref, 0.2, ref))
    assert s["score"] == pytest.approx(want, abs=1e-12)
    assert not {tuple(g) for g in SEARCH_GAMES} & {tuple(g) for g in HELD_OUT_GAMES}


def test_games_rank_online_ipo_above_dpo_and_are_deterministic():
    a, b = games(dpo), games(ipo)
    assert games(dpo) == a
    assert b["fitness"] > a["fitness"] + 0.5           # IPO reaches the regularized equilibrium online; DPO overshoots
    assert b["gap"] < 0.02 and len(b["games"]) == len(SEARCH_GAMES) and b["checks"]


def test_registered_candidate_reads_the_chosen_from_ranks():
    name = register_candidate(dpo, name="test_dpo_candidate")
    pol = torch.tensor([[-3.0, -1.0], [-2.0, -5.0]])
    ref = torch.tensor([[-2.0, -2.0], [-1.0, -1.0]])
    b = ScoreBatch(policy_logps=pol, ref_logps=ref, ranks=torch.tensor([[1, 0], [0, 1]]))
    got = get_objective(name, beta=0.5)(b).per_example
    assert torch.allclose(got, get_objective("dpo", beta=0.5)(b).per_example)
    bad = register_candidate(lambda batch, beta: dpo(batch, beta).mean(), name="test_scalar_candidate")
    with pytest.raises(ValueError, match=r"returned \(\), expected per-example losses \[2\]"):
        get_objective(bad, beta=0.5)(b)


def test_curve_is_the_loss_of_the_margin():
    c = curve(dpo, beta=0.1, margins=[-5.0, 0.0, 5.0])
    assert c["loss"] == pytest.approx([math.log1p(math.exp(0.5)), math.log(2), math.log1p(math.exp(-0.5))])
    assert curve(lambda b, beta: torch.exp(-beta * _rho(b)) * 1e308 * 10, margins=[0.0])["loss"] == [None]


def test_frontier_score_by_hand():
    assert frontier_score([(1.0, 0.4)], r_sft=0.5, kl_budget=1.0) == 0.0            # worse than SFT: nothing
    assert frontier_score([(2.0, 0.9)], r_sft=0.5, kl_budget=1.0) == pytest.approx(0.2)   # half way to (2, 0.9)
    assert frontier_score([(0.5, 0.8), (3.0, 0.95)], r_sft=0.5, kl_budget=5.0) == pytest.approx(0.45)


def test_tiny_job_on_a_small_bundle(tmp_path):
    bundle = prepare(tmp_path, seed=0, pairs=16, sft_steps=3, sft_examples=32)
    assert (tmp_path / "tiny_bundle.json").exists() and len(bundle["pairs"]) == 16
    out = tiny(dpo, bundle, betas=(0.5,), steps=2, batch=4, eval_samples=2)
    (p,) = out["points"]
    assert out["fitness"] == frontier_score([(p["kl"], p["reward"])], bundle["sft_reward"], 1.0)
    assert p["loss_first"] == pytest.approx(math.log(2), abs=1e-5)        # the policy starts at the reference
