"""The final arena's arithmetic on answers judged by a stand-in oracle: policy win rates, their aggregation to
methods, Bradley-Terry on fractional battles with its sandwich interval, the seed bootstrap, the maximal lottery."""

import numpy as np
import pytest

from preflab.compare.arena import fractional_ratings, lottery, method_level, policy_matrix, seed_bootstrap
from preflab.arena.ratings import SCALE


class ScoreOracle:
    """P(a > b) = 1/2 + (s(a) - s(b)) / 4 with s in {0, 1}: "good" beats "bad" with probability 3/4."""

    name = "score"

    def compare(self, prompts, first, second):
        s = {"good": 1.0, "bad": 0.0}
        return np.array([0.5 + (s[a] - s[b]) / 4 for a, b in zip(first, second)])


PROMPTS = ["t0 :", "t1 :"]
GOOD = [["good"] * 3] * 2
BAD = [["bad"] * 3] * 2
MIXED = [["good", "bad", "good"], ["bad", "good", "bad"]]


def test_policy_win_rates_pair_slots_and_are_antisymmetric():
    pm = policy_matrix(ScoreOracle(), PROMPTS, [GOOD, BAD, MIXED])
    W = pm["win_rate"]
    assert W[0, 1] == 0.75 and W[1, 0] == 0.25
    assert W[0, 2] == pytest.approx(0.5 + 0.25 * 3 / 6)          # good vs the mixed answers: 3 of 6 are bad
    np.testing.assert_allclose(W + W.T, 1.0)
    assert (pm["count"] == 6 * (1 - np.eye(3))).all()
    assert pm["sum_sq"][0, 1] == pytest.approx(6 * 0.75 ** 2) and pm["sum_sq"][1, 0] == pytest.approx(6 * 0.25 ** 2)


def test_methods_are_the_mean_over_their_policies():
    pm = policy_matrix(ScoreOracle(), PROMPTS, [GOOD, MIXED, BAD, BAD])
    agg = method_level(pm, [[0, 1], [2, 3]])                     # method a = {good, mixed}, b = {bad, bad}
    W = pm["win_rate"]
    assert agg["win_rate"][0, 1] == pytest.approx(np.mean([W[0, 2], W[0, 3], W[1, 2], W[1, 3]]))
    assert agg["win_rate"][0, 0] == 0.5 and agg["count"][0, 1] == 24
    weighted = method_level(pm, [[0, 1], [2, 3]], weights=np.array([2.0, 0.0, 1.0, 1.0]))
    assert weighted["win_rate"][0, 1] == pytest.approx(W[0, 2])     # policy 1 drawn zero times


def test_fractional_bt_recovers_the_odds_and_a_constant_outcome_has_no_sampling_noise():
    pm = policy_matrix(ScoreOracle(), PROMPTS, [GOOD, BAD])
    r = fractional_ratings(method_level(pm, [[0], [1]]), ["a", "b"])
    assert r.rating[0] - r.rating[1] == pytest.approx(400 * np.log10(3))      # P = 3/4: odds 3
    assert r.lower == pytest.approx(r.rating) and r.upper == pytest.approx(r.rating)   # every y = p exactly


def test_the_sandwich_uses_each_comparisons_own_outcome():
    # a's answers against "bad": half "good" (y = 3/4) and half "bad" (y = 1/2): mean 5/8, (y - p)^2 = 1/64
    a = [["good", "bad"] * 2] * 2
    b = [["bad"] * 4] * 2
    pm = policy_matrix(ScoreOracle(), PROMPTS, [a, b])
    r = fractional_ratings(method_level(pm, [[0], [1]]), ["a", "b"], level=0.95)
    p, n = 5 / 8, 8
    assert r.rating[0] - r.rating[1] == pytest.approx(SCALE * np.log(p / (1 - p)))
    var_diff = (n / 64) / (n * p * (1 - p)) ** 2                 # B / H^2 for the difference theta_a - theta_b
    sd = SCALE * np.sqrt(var_diff / 4)                            # each centred rating carries half of it
    assert r.upper[0] - r.rating[0] == pytest.approx(1.959964 * sd, rel=1e-5)


def test_the_seed_bootstrap_needs_two_seeds_and_brackets_the_ratings():
    pm = policy_matrix(ScoreOracle(), PROMPTS, [GOOD, MIXED, BAD, BAD])
    groups = [[0, 1], [2, 3]]
    assert seed_bootstrap(pm, groups, [0, 0, 0, 0], 0.95, 100, 0) is None
    lo, hi, kept = seed_bootstrap(pm, groups, [0, 1, 0, 1], 0.95, 200, 0)
    rating = fractional_ratings(method_level(pm, groups), ["a", "b"]).rating
    assert kept == 200 and (lo <= rating + 1e-9).all() and (rating <= hi + 1e-9).all() and hi[0] - lo[0] > 10


def test_the_maximal_lottery_of_a_cycle_is_uniform():
    H = np.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    ml = lottery(H, ["r", "p", "s"])
    np.testing.assert_allclose(ml["probabilities"], [1 / 3] * 3, atol=1e-9)
    assert ml["duality_gap"] == {"r": 1.0, "p": 1.0, "s": 1.0}
    ml = lottery(np.array([[0.5, 0.7], [0.3, 0.5]]), ["x", "y"])
    assert ml["mass"] == {"x": 1.0, "y": 0.0} and ml["duality_gap"]["x"] == 0.0
    assert lottery(np.array([[0.5]]), ["only"])["probabilities"] == [1.0]
