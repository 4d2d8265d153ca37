"""Bootstrap intervals over seeds and paired differences, against exact enumeration, normal theory and hand values."""

import itertools

import numpy as np
import pytest

from preflab.compare.stats import ONE_SEED, bootstrap_mean, bootstrap_means, paired_difference, summary_by_round


def exact_quantile(values, q):
    """The q-quantile of the exact bootstrap distribution of the mean (all n^n index vectors, equally likely)."""
    x = np.asarray(values, dtype=float)
    means = np.sort([x[list(i)].mean() for i in itertools.product(range(x.size), repeat=x.size)])
    return means[int(np.ceil(q * means.size)) - 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_interval_is_the_exact_bootstrap_distributions_quantiles(seed):
    x = [0.0, 1.0, 2.0, 10.0]           # atoms of the resampled mean: P(<= 0.25) = 0.0195, P(<= 7.5) = 0.9648
    r = bootstrap_mean(x, resamples=10000, level=0.95, seed=seed)
    assert r["mean"] == 3.25 and r["n"] == 4
    assert r["lo"] == exact_quantile(x, 0.025) == 0.5
    assert r["hi"] == exact_quantile(x, 0.975) == 7.75


def test_two_seeds_span_their_values():
    # the resampled mean of two values is a, (a+b)/2 or b with probabilities 1/4, 1/2, 1/4
    r = bootstrap_mean([0.2, 0.6], resamples=10000)
    assert (r["mean"], r["lo"], r["hi"]) == (pytest.approx(0.4), 0.2, 0.6)


def test_many_seeds_agree_with_the_normal_interval():
    x = np.random.default_rng(7).normal(0.6, 0.05, size=60)
    r = bootstrap_mean(x, resamples=20000, level=0.95, seed=3)
    half = 1.959964 * x.std() / np.sqrt(x.size)          # the bootstrap's variance of the mean is s^2 / n (ddof 0)
    assert r["mean"] == pytest.approx(x.mean())
    assert r["lo"] == pytest.approx(x.mean() - half, abs=0.08 * half)
    assert r["hi"] == pytest.approx(x.mean() + half, abs=0.08 * half)
    narrow = bootstrap_mean(x, resamples=20000, level=0.5, seed=3)
    assert r["lo"] < narrow["lo"] < narrow["hi"] < r["hi"]


def test_the_interval_is_seeded():
    x = np.random.default_rng(1).uniform(size=12)
    assert bootstrap_mean(x, seed=5) == bootstrap_mean(x, seed=5)
    assert bootstrap_mean(x, seed=5)["lo"] != bootstrap_mean(x, seed=6)["lo"]
    np.testing.assert_array_equal(bootstrap_means(x, 100, seed=5), bootstrap_means(x, 100, seed=5))


def test_one_seed_is_a_point_with_a_note_and_none_is_none():
    assert bootstrap_mean([0.7]) == {"mean": 0.7, "lo": 0.7, "hi": 0.7, "n": 1, "note": ONE_SEED}
    assert bootstrap_mean([]) is None


def test_paired_differences_use_the_seeds_both_ran():
    a = {0: 0.6, 1: 0.5, 2: 0.9}
    b = {0: 0.5, 1: 0.5, 2: 0.6, 3: 0.1}                 # seed 3 has no partner: left out
    d = paired_difference(a, b, resamples=10000, seed=0)
    assert d["seeds"] == [0, 1, 2] and d["n"] == 3
    assert d["mean"] == pytest.approx((0.1 + 0.0 + 0.3) / 3)
    same = bootstrap_mean([0.6 - 0.5, 0.5 - 0.5, 0.9 - 0.6], resamples=10000, seed=0)
    assert (d["lo"], d["hi"]) == (same["lo"], same["hi"])
    # a constant shift is known exactly when paired, though each method alone varies a lot across seeds
    x = {s: v for s, v in enumerate([0.2, 0.9, 0.5, 0.7])}
    shifted = {s: v - 0.1 for s, v in x.items()}
    d = paired_difference(x, shifted)
    assert d["lo"] == pytest.approx(0.1) and d["hi"] == pytest.approx(0.1)
    assert bootstrap_mean(list(x.values()))["hi"] - bootstrap_mean(list(x.values()))["lo"] > 0.3
    assert paired_difference({0: 0.5}, {1: 0.5}) is None
    assert paired_difference({0: 0.5}, {0: 0.25})["note"] == ONE_SEED


def test_bands_by_round_follow_the_seeds_that_reached_each_round():
    runs = {0: [{"round": 1, "kl": 0.1}, {"round": 2, "kl": 0.3}], 1: [{"round": 1, "kl": 0.2}]}
    band = summary_by_round(runs, "kl", resamples=1000, level=0.95, seed=0)
    assert [b["round"] for b in band] == [1, 2]
    assert band[0]["mean"] == pytest.approx(0.15) and (band[0]["min"], band[0]["max"]) == (0.1, 0.2)
    assert band[1]["n"] == 1 and band[1]["lo"] == band[1]["hi"] == 0.3
