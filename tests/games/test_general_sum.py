"""The general-sum game of HT-MNPO (one oracle per player): payoffs and per-player gaps by hand, the exact and
sampled HT-MNPO dynamics, its reduction to the symmetric game, and the errors on bad input."""

import math

import numpy as np
import pytest
from scipy.special import softmax

from preflab.games import (annotator_preferences, condorcet_annotators, condorcet_mixture, duality_gap,
                           general_sum_best_responses, general_sum_gaps, general_sum_payoffs, multiplayer_gap,
                           player_wins, random_preference, run_dynamics, run_general_sum)

# two responses, two players who disagree: player 0 prefers response 0, player 1 response 1
P0 = np.array([[0.5, 0.8], [0.2, 0.5]])
P1 = np.array([[0.5, 0.3], [0.7, 0.5]])
PS = np.stack([P0, P1])


def test_two_by_two_payoffs_best_responses_and_gaps_by_hand():
    pi0, pi1, ref, beta = [0.6, 0.4], [0.3, 0.7], [0.5, 0.5], 0.2
    # u_0 = P0 pi1 = (0.15 + 0.56, 0.06 + 0.35); u_1 = P1 pi0 = (0.30 + 0.12, 0.42 + 0.20)
    u0, u1 = [0.71, 0.41], [0.42, 0.62]
    assert np.allclose(player_wins(PS, [pi0, pi1]), [u0, u1], atol=1e-15)
    kl0 = 0.6 * math.log(1.2) + 0.4 * math.log(0.8)
    kl1 = 0.3 * math.log(0.6) + 0.7 * math.log(1.4)
    j0 = 0.6 * 0.71 + 0.4 * 0.41 - beta * kl0            # 0.59 - 0.2 * 0.020136
    j1 = 0.3 * 0.42 + 0.7 * 0.62 - beta * kl1            # 0.56 - 0.2 * 0.082283
    assert np.allclose(general_sum_payoffs(PS, [pi0, pi1], beta, ref), [j0, j1], atol=1e-14)
    best0 = beta * math.log(0.5 * math.exp(0.71 / beta) + 0.5 * math.exp(0.41 / beta))
    best1 = beta * math.log(0.5 * math.exp(0.42 / beta) + 0.5 * math.exp(0.62 / beta))
    gaps = general_sum_gaps(PS, [pi0, pi1], beta, ref)
    assert np.allclose(gaps, [best0 - j0, best1 - j1], atol=1e-14)
    br = general_sum_best_responses(PS, [pi0, pi1], beta, ref)
    assert np.allclose(br[0], [1 / (1 + math.exp(-0.3 / beta)), 1 / (1 + math.exp(0.3 / beta))], atol=1e-14)
    assert np.allclose(br[1], [1 / (1 + math.exp(0.2 / beta)), 1 / (1 + math.exp(-0.2 / beta))], atol=1e-14)
    # the best response attains the max: a grid over player 0's policy, player 1 held fixed
    grid = np.linspace(1e-6, 1 - 1e-6, 20001)
    values = [general_sum_payoffs(PS, [[p, 1 - p], pi1], beta, ref)[0] for p in grid[::200]]
    assert max(values) <= best0 + 1e-12 and max(values) > best0 - 1e-4
    assert general_sum_payoffs(PS, [br[0], pi1], beta, ref)[0] == pytest.approx(best0, abs=1e-14)
    # unregularized: max_y u_i(y) - pi_i . u_i
    assert np.allclose(general_sum_gaps(PS, [pi0, pi1], 0.0), [0.71 - 0.59, 0.62 - 0.56], atol=1e-14)
    assert np.allclose(general_sum_best_responses(PS, [pi0, pi1], 0.0), [[1, 0], [0, 1]])


def test_three_players_average_their_win_rates_over_the_two_others():
    P2 = np.array([[0.5, 0.6], [0.4, 0.5]])
    profile = [[0.6, 0.4], [0.3, 0.7], [0.9, 0.1]]
    u = player_wins([P0, P1, P2], profile)
    assert np.allclose(u[0], (P0 @ [0.3, 0.7] + P0 @ [0.9, 0.1]) / 2, atol=1e-15)
    assert np.allclose(u[2], (P2 @ [0.6, 0.4] + P2 @ [0.3, 0.7]) / 2, atol=1e-15)
    assert general_sum_gaps([P0, P1, P2], profile, 0.0)[2] == pytest.approx(u[2].max() - 0.9 * u[2][0] - 0.1 * u[2][1])


@pytest.mark.parametrize("players", [2, 3])
def test_with_one_oracle_the_gaps_are_the_symmetric_game_s(players):
    P = random_preference(5, seed=2)
    ref = np.array([0.3, 0.1, 0.2, 0.25, 0.15])
    rng = np.random.default_rng(0)
    profile = rng.dirichlet(np.ones(5), size=players)
    beta = 0.15
    assert np.allclose(general_sum_gaps([P] * players, profile, beta, ref), multiplayer_gap(P, profile, beta, ref),
                       atol=1e-14)
    pi = profile[0]
    assert np.allclose(general_sum_gaps([P] * players, [pi] * players, beta, ref),
                       duality_gap(P, pi, beta, ref) / 2, atol=1e-14)


def test_ht_mnpo_first_step_by_hand(game3):
    # three responses: with two, P q's difference between responses does not depend on q
    Ps = [game3[0], random_preference(3, seed=4), random_preference(3, seed=5)]
    ref, beta, eta = game3[1], 0.2, 0.5
    init = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.3, 0.4, 0.3]])
    c = beta / eta
    logs = np.log(init)
    for win in ("sampler", "opponents"):
        got = run_general_sum(Ps, "ht_mnpo", beta, ref=ref, init=init, iterations=1, eta=eta, win=win).last
        for i in range(3):
            others = [j for j in range(3) if j != i]
            geo = logs[others].mean(0)
            w = Ps[i] @ init[i] if win == "sampler" else np.mean([Ps[i] @ init[j] for j in others], axis=0)
            assert np.allclose(got[i], softmax(c * np.log(ref) + (1 - c) * geo + w / eta), atol=1e-14), (win, i)


def test_with_all_oracles_equal_and_one_start_ht_mnpo_is_symmetric_mnpo():
    # every player sees the others at pi_t: the anchor is pi_t and the update is MNPO with one opponent (INPO)
    P = random_preference(6, seed=3)
    ref = np.random.default_rng(1).dirichlet(np.full(6, 2.0))
    sym = run_dynamics(P, "mnpo", 0.1, ref=ref, iterations=60, every=10, eta=0.5, history=1)
    for players in (2, 3):
        for win in ("sampler", "opponents"):
            ht = run_general_sum([P] * players, beta=0.1, ref=ref, iterations=60, every=10, eta=0.5, win=win)
            assert np.abs(ht.policies - sym.policies[:, None, :]).max() < 1e-12
            assert np.allclose(ht.gaps, sym.gaps[:, None] / 2, atol=1e-12)        # multiplayer gap = DG / 2


def test_exact_ht_mnpo_gaps_vanish_when_the_players_share_an_oracle():
    # one oracle, different starts: the consensus anchor pulls the players together and they meet at the
    # regularized equilibrium (observed: max gap 1.6e-10 after 200 steps, 0 after 400)
    P = random_preference(6, seed=1)
    init = np.random.default_rng(0).dirichlet(np.ones(6), size=3)
    traj = run_general_sum([P] * 3, beta=0.1, init=init, iterations=400, every=100)
    assert traj.gaps[0].min() > 1e-2 and traj.gaps[-1].max() < 1e-10
    assert traj.policies.shape == (5, 3, 6) and traj.gaps.shape == (5, 3) and traj.iterations.tolist()[-1] == 400


def test_with_different_oracles_ht_mnpo_stalls_above_the_general_sum_equilibrium():
    # annotator types with their own BT utilities: the trained regression (win rate against the player's own
    # samples) keeps each gap near 0.1 (from 0.26 at ref); Eq. 10's form (win rate against the others) at
    # eta = beta is the simultaneous best response, which here reaches an equilibrium, and its floor grows with
    # the weight (1 - beta/eta) of the consensus anchor
    Ps = condorcet_annotators(10, populations=3)
    assert np.allclose(Ps.mean(0), condorcet_mixture(10))
    start = run_general_sum(Ps, beta=0.1, iterations=0).gaps[0]
    sampler = run_general_sum(Ps, beta=0.1, iterations=300, every=300, eta=0.2).gaps[-1]
    assert np.all(sampler > 0.05) and np.all(sampler < start)
    floors = [run_general_sum(Ps, beta=0.1, iterations=400, every=400, eta=eta, win="opponents").gaps[-1].max()
              for eta in (0.1, 0.13, 0.2)]
    assert floors[0] < 1e-10 < 1e-3 < floors[1] < floors[2]


def test_sampled_ht_mnpo_is_reproducible_and_approaches_the_exact_path():
    Ps = annotator_preferences([[0.0, 1.0, 2.0, 0.5], [2.0, 0.0, 1.0, 0.5]], temperature=0.5)
    exact = run_general_sum(Ps, beta=0.2, iterations=10, every=10).last
    a, b, c = (run_general_sum(Ps, beta=0.2, iterations=10, every=10, sampled=True, samples=16, seed=s)
               for s in (1, 1, 2))
    assert np.array_equal(a.policies, b.policies) and not np.array_equal(a.policies, c.policies)
    assert a.sampled and a.params["seed"] == 1 and a.params["samples"] == 16
    big = run_general_sum(Ps, beta=0.2, iterations=10, every=10, sampled=True, samples=4096, seed=1).last
    err_small, err_big = np.abs(a.last - exact).max(), np.abs(big - exact).max()
    assert err_big < 0.01 and err_big < err_small / 3, (err_small, err_big)


def test_summary_and_callback():
    seen = []
    traj = run_general_sum(PS, beta=0.2, iterations=5, callback=seen.append)
    s = traj.summary(PS)
    assert seen == [1, 2, 3, 4, 5] and s["players"] == 2 and s["iterations"] == 5
    assert s["gaps"] == pytest.approx(general_sum_gaps(PS, traj.last, 0.2).tolist(), abs=1e-15)
    assert s["params"]["eta"] == 1.0 and s["params"]["win"] == "sampler"


@pytest.mark.parametrize("kwargs, match", [
    ({"Ps": [P0]}, "at least 2 players"),
    ({"Ps": P0}, r"\[players, N, N\]"),
    ({"Ps": [P0, [[0.5, 0.9], [0.2, 0.5]]]}, r"Ps\[1\]\[0, 1\] \+ Ps\[1\]\[1, 0\]"),
    ({"algorithm": "ht_mnp"}, "did you mean 'ht_mnpo'"),
    ({"win": "others"}, "not one of"),
    ({"beta": 0.0}, "needs beta > 0"),
    ({"eta": 0.05}, "eta >= beta"),
    ({"init": [[0.5, 0.5]]}, r"one policy per player, shape \[2, 2\]"),
    ({"init": [1.0, 0.0]}, r"init\[0, 1\] = 0"),
    ({"etaa": 1.0}, "did you mean 'eta'"),
])
def test_bad_input_is_refused_clearly(kwargs, match):
    args = {"Ps": PS, "algorithm": "ht_mnpo", "beta": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        run_general_sum(args.pop("Ps"), args.pop("algorithm"), args.pop("beta"), iterations=2, **args)
