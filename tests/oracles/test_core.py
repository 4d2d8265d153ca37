"""The Oracle contract on Python-function oracles: Bradley-Terry values by hand, prefs() matrices, sampling
frequencies against compare(), Noisy and Mixture by formula, and the errors."""

import numpy as np
import pytest

from preflab.oracles import CallableOracle, Mixture, Noisy, OracleError, RewardOracle, bt_matrix

from .checks import assert_valid_prefs, binomial_tolerance

REWARD = {"a": 0.0, "b": 1.0, "c": 3.0}


def reward(prompt, response):
    return REWARD[response]


def test_reward_oracle_bradley_terry_by_hand():
    oracle = RewardOracle(reward, temperature=2.0, name="table")
    P = oracle.prefs("q", ["a", "b", "c"])
    assert_valid_prefs(P, 3)
    # sigmoid((r_i - r_j) / 2): sigmoid(-0.5), sigmoid(-1.5), sigmoid(-1)
    assert P[0, 1] == pytest.approx(0.3775406687981454, abs=1e-14)
    assert P[2, 0] == pytest.approx(0.8175744761936437, abs=1e-14)
    assert P[1, 2] == pytest.approx(0.2689414213699951, abs=1e-14)
    np.testing.assert_allclose(oracle.compare(["q"] * 2, ["c", "a"], ["a", "b"]), [P[2, 0], P[0, 1]], rtol=1e-15)
    np.testing.assert_array_equal(oracle.score(["q", "q"], ["c", "b"]), [3.0, 1.0])


def test_hard_labels_at_temperature_zero():
    oracle = RewardOracle(lambda x, y: len(y), temperature=0)
    assert oracle.compare(["q"] * 3, ["aa", "a", "bb"], ["a", "aa", "cc"]).tolist() == [1.0, 0.0, 0.5]
    P = oracle.prefs("q", ["x", "yyy", "zz", "ww"])
    assert_valid_prefs(P, 4)
    assert P.tolist() == [[0.5, 0, 0, 0], [1, 0.5, 1, 1], [1, 0, 0.5, 0.5], [1, 0, 0.5, 0.5]]


def test_prefs_uses_scores_when_compare_is_their_bt_link_and_pairs_otherwise():
    scored, compared = [], []

    def score_fn(x, y):
        scored.append(y)
        return REWARD[y]

    def compare_fn(x, a, b):
        compared.append((a, b))
        return 0.9 if REWARD[a] > REWARD[b] else 0.3       # position-biased on purpose: P(a,b) + P(b,a) != 1

    P = CallableOracle(score_fn=score_fn, temperature=1.0).prefs("q", ["a", "b", "c", "a"])
    assert sorted(scored) == ["a", "a", "b", "c"]          # K scores, not K(K-1)/2 comparisons
    np.testing.assert_allclose(P, bt_matrix([0, 1, 3, 0]), rtol=1e-15)
    P = CallableOracle(compare_fn=compare_fn).prefs("q", ["a", "b", "c"])
    assert compared == [("a", "b"), ("a", "c"), ("b", "c")]  # each pair once, i < j shown first
    assert_valid_prefs(P, 3)
    np.testing.assert_allclose(P, [[0.5, 0.3, 0.3], [0.7, 0.5, 0.3], [0.7, 0.7, 0.5]], rtol=1e-15)


def test_callable_oracle_batched_and_with_both_functions():
    calls = []

    def batched_compare(prompts, first, second):
        calls.append(len(first))
        return np.array([0.25] * len(first))

    oracle = CallableOracle(compare_fn=batched_compare, score_fn=lambda xs, ys: [len(y) for y in ys], batched=True,
                            name="both")
    assert oracle.compare(["q"] * 3, ["a"] * 3, ["b"] * 3).tolist() == [0.25] * 3 and calls == [3]
    assert oracle.score(["q", "q"], ["ab", "a"]).tolist() == [2.0, 1.0]
    assert oracle.bt_temperature is None                  # compare is its own function: prefs compares pairs
    assert oracle.prefs("q", ["a", "b"]).tolist() == [[0.5, 0.25], [0.75, 0.5]]
    with pytest.raises(NotImplementedError, match="no score_fn"):
        CallableOracle(compare_fn=lambda x, a, b: 0.5).score(["q"], ["a"])


def test_prefs_batch_pads_ragged_lists_with_one_half():
    oracle = RewardOracle(reward, temperature=0)
    out = oracle.prefs_batch(["x", "y"], [["a", "c"], ["c", "b", "a"]])
    assert out.shape == (2, 3, 3)
    assert out[0].tolist() == [[0.5, 0.0, 0.5], [1.0, 0.5, 0.5], [0.5, 0.5, 0.5]]
    np.testing.assert_array_equal(out[1], oracle.prefs("y", ["c", "b", "a"]))


def test_sample_labels_frequencies_converge_to_compare():
    oracle = RewardOracle(reward, temperature=1.5)
    n = 20000
    prompts, first, second = ["q"] * (3 * n), ["a", "b", "c"] * n, ["b", "c", "a"] * n
    labels = oracle.sample_labels(prompts, first, second, np.random.default_rng(123))
    assert labels.dtype == np.int64 and set(np.unique(labels)) <= {0, 1}
    freq = labels.reshape(n, 3).mean(axis=0)
    p = oracle.compare(["q"] * 3, ["a", "b", "c"], ["b", "c", "a"])
    assert np.all(np.abs(freq - p) < binomial_tolerance(p, n)), (freq, p)
    # seeded: the same generator state gives the same labels
    again = oracle.sample_labels(prompts, first, second, np.random.default_rng(123))
    np.testing.assert_array_equal(labels, again)


def test_noisy_by_formula():
    inner = RewardOracle(reward, temperature=1.0)
    noisy = Noisy(inner, flip=0.15)
    p = inner.compare(["q"] * 3, ["a", "c", "b"], ["b", "a", "b"])
    np.testing.assert_allclose(noisy.compare(["q"] * 3, ["a", "c", "b"], ["b", "a", "b"]), 0.85 * p + 0.15 * (1 - p),
                               rtol=1e-15)
    P = noisy.prefs("q", ["a", "b", "c"])
    assert_valid_prefs(P, 3)
    np.testing.assert_allclose(P, 0.85 * inner.prefs("q", ["a", "b", "c"]) + 0.15 * (1 - inner.prefs("q", ["a", "b", "c"])))
    # hard labels flipped 30% of the time: frequency of "first preferred" for a sure win is 0.7
    hard = Noisy(RewardOracle(reward, temperature=0), flip=0.3)
    n = 20000
    labels = hard.sample_labels(["q"] * n, ["c"] * n, ["a"] * n, np.random.default_rng(7))
    assert abs(labels.mean() - 0.7) < binomial_tolerance(0.7, n)
    with pytest.raises(ValueError, match=r"flip is a probability"):
        Noisy(inner, flip=1.5)
    with pytest.raises(NotImplementedError):
        noisy.score(["q"], ["a"])


def test_mixture_by_formula_and_its_sampling_asks_only_the_drawn_oracle():
    asked = {"short": 0, "long": 0}

    def counting(name, sign):
        def fn(x, y):
            asked[name] += 1
            return sign * len(y)
        return RewardOracle(fn, temperature=0, name=name)

    short, long = counting("short", -1), counting("long", +1)
    mix = Mixture([short, long], weights=[3, 1])            # normalized to 0.75 / 0.25
    assert mix.compare(["q", "q"], ["a", "bb"], ["bb", "bb"]).tolist() == [0.75, 0.5]
    P = mix.prefs("q", ["a", "bb", "ccc"])
    assert_valid_prefs(P, 3)
    assert P[0, 2] == pytest.approx(0.75) and P[2, 1] == pytest.approx(0.25)
    asked.update(short=0, long=0)
    n = 8000
    labels, who = mix.sample_annotated(["q"] * n, ["a"] * n, ["bb"] * n, np.random.default_rng(0))
    # each item went to exactly one oracle; each scores both sides of its items
    assert asked["short"] == 2 * np.sum(who == 0) and asked["long"] == 2 * np.sum(who == 1)
    assert abs(np.mean(who == 0) - 0.75) < binomial_tolerance(0.75, n)
    np.testing.assert_array_equal(labels, (who == 0).astype(np.int64))    # short always prefers "a"


def test_errors_name_the_argument_and_the_item():
    oracle = CallableOracle(compare_fn=lambda x, a, b: 1.5 if a == "bad" else 0.5, name="broken")
    with pytest.raises(OracleError, match=r"'broken'.*probability 1\.5 for item 1"):
        oracle.compare(["q", "q"], ["ok", "bad"], ["x", "y"])
    with pytest.raises(ValueError, match=r"prompts=2, first=1, second=2"):
        oracle.compare(["q", "q"], ["a"], ["b", "c"])
    with pytest.raises(TypeError, match=r"first must be a list of strings, got one string"):
        oracle.compare(["q"], "a", ["b"])
    with pytest.raises(TypeError, match=r"np.random.default_rng\(seed\)"):
        oracle.sample_labels(["q"], ["a"], ["b"], rng=0)
    nan = RewardOracle(lambda x, y: float("nan"), name="nan")
    with pytest.raises(OracleError, match=r"rewards\[0\] = nan for item 0"):
        nan.score(["q"], ["a"])
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        RewardOracle(reward, temperature=-1)
    with pytest.raises(ValueError, match="weights must be finite and non-negative"):
        Mixture([oracle, nan], weights=[1, -1])
