"""AnnotatorMixture: exact preferences by hand on a Condorcet example (an intransitive cycle), sampling of the
annotator type, and the one-type reward case."""

import numpy as np
import pytest

from preflab.oracles import AnnotatorMixture

from .checks import assert_valid_prefs, binomial_tolerance

RANKINGS = ["abc", "bca", "cab"]          # three voter types; a cycle a > b > c > a by majority


def voters():
    return [lambda x, y, r=r: -float(r.index(y)) for r in RANKINGS]


def test_condorcet_cycle_hard():
    truth = AnnotatorMixture(voters(), temperature=0.0)
    P = truth.exact_prefs("q", ["a", "b", "c"])
    assert_valid_prefs(P, 3)
    # a > b for voters 1 and 3, b > c for voters 1 and 2, c > a for voters 2 and 3: 2/3 each
    np.testing.assert_allclose([P[0, 1], P[1, 2], P[2, 0]], [2 / 3] * 3, rtol=1e-15)
    assert P[0, 1] > 0.5 and P[1, 2] > 0.5 and P[2, 0] > 0.5          # the cycle: no Condorcet winner
    np.testing.assert_array_equal(truth.prefs("q", ["a", "b", "c"]), P)
    np.testing.assert_allclose(truth.compare(["q"] * 3, ["a", "b", "c"], ["b", "c", "a"]), [2 / 3] * 3, rtol=1e-15)


def test_condorcet_cycle_soft_and_weighted():
    truth = AnnotatorMixture(voters(), temperature=1.0)
    P = truth.exact_prefs("q", ["a", "b", "c"])
    # P(a > b) = (sigmoid(1) + sigmoid(-2) + sigmoid(1)) / 3: utilities a,b = (0,-1), (-2,0), (-1,-2)
    want = (2 * 0.7310585786300049 + 0.11920292202211755) / 3
    np.testing.assert_allclose([P[0, 1], P[1, 2], P[2, 0]], [want] * 3, rtol=1e-14)
    assert want == pytest.approx(0.5271066930940425)
    weighted = AnnotatorMixture(voters(), weights=[0.5, 0.3, 0.2], temperature=0.0)
    P = weighted.exact_prefs("q", ["a", "b", "c"])
    np.testing.assert_allclose([P[0, 1], P[1, 2], P[2, 0]], [0.7, 0.8, 0.5], rtol=1e-15)


def test_sample_annotated_draws_the_type_then_its_label():
    truth = AnnotatorMixture(voters(), weights=[0.5, 0.3, 0.2], temperature=1.0)
    n = 30000
    labels, types = truth.sample_annotated(["q"] * n, ["a"] * n, ["b"] * n, np.random.default_rng(2024))
    for k, w in enumerate([0.5, 0.3, 0.2]):
        assert abs(np.mean(types == k) - w) < binomial_tolerance(w, n)
    # given the type, P(a > b) is that voter's sigmoid(u(a) - u(b)): +1, -2, +1
    for k, d in enumerate([1.0, -2.0, 1.0]):
        p = 1 / (1 + np.exp(-d))
        m = np.sum(types == k)
        assert abs(labels[types == k].mean() - p) < binomial_tolerance(p, m)
    p = truth.compare(["q"], ["a"], ["b"])[0]
    assert abs(labels.mean() - p) < binomial_tolerance(p, n)
    np.testing.assert_array_equal(
        truth.sample_labels(["q"] * n, ["a"] * n, ["b"] * n, np.random.default_rng(2024)), labels)


def test_one_type_is_a_reward_oracle():
    truth = AnnotatorMixture([lambda x, y: len(y)], temperature=0.5)
    assert truth.score(["q", "q"], ["ab", "a"]).tolist() == [2.0, 1.0]
    assert truth.compare(["q"], ["ab"], ["a"])[0] == pytest.approx(1 / (1 + np.exp(-2.0)))
    with pytest.raises(NotImplementedError, match="mixes 3 annotator types"):
        AnnotatorMixture(voters()).score(["q"], ["a"])
