"""PairwiseModelOracle: both orders averaged, position bias reported."""

import numpy as np
import pytest

from preflab.oracles import PairwiseModelOracle, position_bias

from .checks import assert_valid_prefs


def biased_model(bias):
    """P(first > second) = sigmoid(len(first) - len(second) + bias): prefers longer text and the first slot."""
    def fn(prompts, first, second):
        d = np.array([len(a) - len(b) for a, b in zip(first, second)], dtype=float)
        return 1 / (1 + np.exp(-(d + bias)))
    return fn


def test_both_orders_cancel_a_constant_bias_in_the_logit():
    oracle = PairwiseModelOracle(biased_model(2.0), name="pm")
    first, second = ["aaa", "a", "aa"], ["a", "aaa", "aa"]
    p = oracle.compare(["q"] * 3, first, second)
    s = lambda x: 1 / (1 + np.exp(-x))                               # noqa: E731
    want = [(s(2 + 2) + 1 - s(-2 + 2)) / 2, (s(-2 + 2) + 1 - s(2 + 2)) / 2, 0.5]
    np.testing.assert_allclose(p, want, rtol=1e-14)
    report = oracle.position_bias()
    # p_ab = s(4), s(0), s(2); p_ba = s(0), s(4), s(2)
    assert report.first_position_win_rate == pytest.approx((2 * s(4) + 2 * s(0) + 2 * s(2)) / 6)
    assert report.followed_first == pytest.approx(1 / 3)             # the equal pair: first slot both times
    assert report.consistent == pytest.approx(0.0)                   # s(0) = 1/2 is a tie in the other two
    assert_valid_prefs(oracle.prefs("q", ["a", "bb", "ccc"]), 3)
    oracle.reset_position_bias()
    assert oracle.position_bias().n_items == 0


def test_one_order_and_an_unbiased_model():
    raw = PairwiseModelOracle(biased_model(1.0), both_orders=False)
    assert raw.compare(["q"], ["a"], ["a"])[0] == pytest.approx(1 / (1 + np.exp(-1.0)))
    fair = PairwiseModelOracle(biased_model(0.0))
    fair.compare(["q"] * 2, ["aa", "a"], ["a", "aa"])
    r = fair.position_bias()
    assert r.first_position_win_rate == pytest.approx(0.5) and r.consistent == 1.0 and r.followed_position == 0.0


def test_position_bias_counts():
    r = position_bias([0.9, 0.2, 0.7, 0.5], [0.8, 0.3, 0.1, 0.5])
    assert (r.followed_first, r.followed_second, r.followed_position, r.consistent) == (0.25, 0.25, 0.5, 0.5)
    assert r.mean_order_gap == pytest.approx(np.mean([0.7, 0.5, 0.2, 0.0]))
