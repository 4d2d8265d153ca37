"""Ratings: Bradley-Terry, Davidson, Elo, intervals, ranks, win rates, length and style control, Nash views."""

import math

import numpy as np
import pytest
from scipy.special import expit

from preflab.arena.bradley_terry import bt_scores, fit_bt
from preflab.arena.length_control import length_controlled_win_rate
from preflab.arena.nontransitive import nash_view
from preflab.arena.pairs import pair_counts
from preflab.arena.ranks import arena_ranks
from preflab.arena.ratings import SCALE, rate, rate_codes
from preflab.arena.store import Battle
from preflab.arena.style_control import style_controlled
from preflab.arena.winrate import win_rate_matrix

TRUE = np.array([1200.0, 1100.0, 1050.0, 1000.0, 950.0, 700.0])   # mean 1000


def simulate_bt(rng, ratings, n_battles, tie=0.0):
    """Battles with P(a beats b) on the Elo scale; a fraction ``tie`` of battles are ties (well specified
    only at 0)."""
    n = len(ratings)
    a = rng.integers(0, n, n_battles)
    b = (a + rng.integers(1, n, n_battles)) % n
    p = 1.0 / (1.0 + 10 ** ((ratings[b] - ratings[a]) / 400))
    codes = np.where(rng.random(n_battles) < p, 0, 1)
    if tie:
        codes = np.where(rng.random(n_battles) < tie, 2, codes)
    return a, b, codes


def test_bt_recovers_ratings_and_intervals_cover():
    rng = np.random.default_rng(1)
    models = [f"m{i}" for i in range(len(TRUE))]
    covered, total = 0, 0
    for rep in range(40):
        r = rate_codes(*simulate_bt(rng, TRUE, 20_000), models, method="bt", interval="sandwich")
        assert abs(r.rating.mean() - 1000.0) < 1e-9
        err = np.abs(r.rating - TRUE)
        assert err.max() < 25.0                       # sd is about 5-8 points at 20k battles
        covered += int(np.sum((r.lower <= TRUE) & (TRUE <= r.upper)))
        total += len(TRUE)
        if rep == 0:
            assert np.all(r.lower <= TRUE) and np.all(TRUE <= r.upper)
            assert r.rank.tolist() == [1, 2, 3, 4, 5, 6]
    assert 0.90 <= covered / total <= 0.99, covered / total


def test_score_equations_hold_on_a_hand_countable_set():
    lines = ([("a", "b", "model_a")] * 3 + [("a", "b", "model_b")] + [("b", "c", "tie")] * 2
             + [("c", "b", "model_a")] + [("b", "c", "model_a")] * 2 + [("a", "c", "model_b")] + [("c", "a", "tie (bothbad)")]
             + [("a", "c", "model_a")])
    battles = [{"model_a": x, "model_b": y, "winner": w} for x, y, w in lines]
    c = pair_counts(battles)
    # by hand: a beat b 3, b beat a 1; b-c: 2 ties, c beat b 1, b beat c 2; a-c: c beat a 1, a beat c 1, 1 tie
    assert c.wins.tolist() == [[0, 3, 1], [1, 0, 2], [1, 1, 0]]
    assert c.ties.tolist() == [[0, 0, 1], [0, 0, 2], [1, 2, 0]]
    theta = fit_bt(c)
    N = c.games
    expected = (N * expit(theta[:, None] - theta[None, :])).sum(axis=1)
    observed = bt_scores(c).sum(axis=1)                  # a: 3 + 1 + 0.5 = 4.5
    assert observed.tolist() == [4.5, 4.0, 3.5]
    np.testing.assert_allclose(expected, observed, rtol=0, atol=1e-8)


def test_scale_and_mean():
    battles = [{"model_a": "a", "model_b": "b", "winner": "model_a"}] * 9 + \
              [{"model_a": "a", "model_b": "b", "winner": "model_b"}] + \
              [{"model_a": "b", "model_b": "c", "winner": "model_a"}] * 4 + \
              [{"model_a": "c", "model_b": "b", "winner": "model_a"}]
    t = rate(battles, interval="none").table
    # a chain: each pair's MLE is its own odds: 9:1 and 4:1
    assert t["a"]["rating"] - t["b"]["rating"] == pytest.approx(400 * math.log10(9), abs=1e-6)
    assert t["b"]["rating"] - t["c"]["rating"] == pytest.approx(400 * math.log10(4), abs=1e-6)
    assert np.mean([v["rating"] for v in t.values()]) == pytest.approx(1000.0, abs=1e-9)
    p = 1 / (1 + 10 ** ((t["b"]["rating"] - t["a"]["rating"]) / 400))
    assert p == pytest.approx(0.9, abs=1e-8)


def test_davidson_recovers_tie_parameter():
    rng = np.random.default_rng(3)
    theta = (TRUE - 1000) / SCALE
    nu = 0.8
    n, m = len(TRUE), 60_000
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    d = theta[a] - theta[b]
    D = np.exp(d / 2) + np.exp(-d / 2) + nu
    u = rng.random(m)
    codes = np.where(u < np.exp(d / 2) / D, 0, np.where(u < (np.exp(d / 2) + np.exp(-d / 2)) / D, 1, 2))
    r = rate_codes(a, b, codes, [f"m{i}" for i in range(n)], method="davidson", interval="sandwich")
    assert r.extra["nu"] == pytest.approx(nu, abs=0.04)
    assert np.abs(r.rating - TRUE).max() < 20
    assert np.all((r.lower <= TRUE) & (TRUE <= r.upper))
    boot = rate_codes(a[:20_000], b[:20_000], codes[:20_000], [f"m{i}" for i in range(n)], method="davidson",
                      interval="bootstrap", rounds=30, seed=0)
    sand = rate_codes(a[:20_000], b[:20_000], codes[:20_000], [f"m{i}" for i in range(n)], method="davidson")
    np.testing.assert_allclose(boot.rating, sand.rating, atol=1e-9)
    np.testing.assert_allclose(boot.upper - boot.lower, sand.upper - sand.lower, rtol=0.4)


def test_elo_equals_hand_computed_updates_and_depends_on_order():
    battles = [{"model_a": "a", "model_b": "b", "winner": "model_a"},
               {"model_a": "b", "model_b": "c", "winner": "tie"},
               {"model_a": "c", "model_b": "a", "winner": "model_a"}]
    k = 4.0
    ra = rb = rc = 1000.0
    ra, rb = ra + k * (1 - 0.5), rb - k * (1 - 0.5)                              # 1002, 998
    e_b = 1 / (1 + 10 ** ((rc - rb) / 400))
    rb, rc = rb + k * (0.5 - e_b), rc - k * (0.5 - e_b)
    e_c = 1 / (1 + 10 ** ((ra - rc) / 400))
    rc, ra = rc + k * (1 - e_c), ra - k * (1 - e_c)
    t = rate(battles, method="elo", interval="none").table
    assert [t[m]["rating"] for m in "abc"] == pytest.approx([ra, rb, rc], abs=1e-12)
    t2 = rate(battles[::-1], method="elo", interval="none").table
    assert abs(t2["a"]["rating"] - t["a"]["rating"]) > 1e-3
    with pytest.raises(ValueError, match="online Elo has no likelihood.*interval='bootstrap'"):
        rate(battles, method="elo")
    b1 = rate(battles * 5, method="elo", interval="bootstrap", rounds=20, seed=4).table
    assert b1 == rate(battles * 5, method="elo", interval="bootstrap", rounds=20, seed=4).table


def test_sandwich_matches_hessian_when_well_specified_and_not_with_ties():
    rng = np.random.default_rng(5)
    models = [f"m{i}" for i in range(len(TRUE))]
    data = simulate_bt(rng, TRUE, 50_000)
    s = rate_codes(*data, models, interval="sandwich")
    h = rate_codes(*data, models, interval="hessian")
    np.testing.assert_allclose(s.upper - s.rating, h.upper - h.rating, rtol=0.05)
    # ties at 1/2 are less spread than the model's Bernoulli: the sandwich interval is narrower
    tied = simulate_bt(rng, TRUE, 50_000, tie=0.5)
    s2 = rate_codes(*tied, models, interval="sandwich")
    h2 = rate_codes(*tied, models, interval="hessian")
    assert np.all((s2.upper - s2.rating) < 0.9 * (h2.upper - h2.rating))


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(6)
    models = [f"m{i}" for i in range(len(TRUE))]
    data = simulate_bt(rng, TRUE, 5_000)
    r1 = rate_codes(*data, models, interval="bootstrap", rounds=50, seed=11)
    r2 = rate_codes(*data, models, interval="bootstrap", rounds=50, seed=11)
    r3 = rate_codes(*data, models, interval="bootstrap", rounds=50, seed=12)
    assert r1.table == r2.table and r1.table != r3.table
    assert np.all((r1.lower < r1.rating) & (r1.rating < r1.upper))
    s = rate_codes(*data, models, interval="sandwich")
    np.testing.assert_allclose(r1.upper - r1.lower, s.upper - s.lower, rtol=0.35)


def test_ranks_follow_the_arena_definition():
    assert arena_ranks([10, 5, 4, 0, -20], [20, 12, 8, 6, -10]).tolist() == [1, 1, 2, 2, 5]
    battles = [{"model_a": "x", "model_b": "y", "winner": "model_a"}] * 30 + \
              [{"model_a": "x", "model_b": "y", "winner": "model_b"}] * 10 + \
              [{"model_a": "y", "model_b": "z", "winner": "model_a"}] * 21 + \
              [{"model_a": "y", "model_b": "z", "winner": "model_b"}] * 19
    r = rate(battles)
    t = r.table
    assert t["x"]["rank"] == 1
    assert t["y"]["rank"] == 1 + int(t["x"]["lower"] > t["y"]["upper"]) == 2
    assert t["z"]["rank"] == 2                           # z and y overlap; x is clear of z


def test_win_rate_matrix_and_maximal_lottery_on_rock_paper_scissors():
    battles = []
    for x, y in [("rock", "scissors"), ("scissors", "paper"), ("paper", "rock")]:
        battles += [{"model_a": x, "model_b": y, "winner": "model_a"}] * 7
        battles += [{"model_a": y, "model_b": x, "winner": "model_b"}] * 7
    c = pair_counts(battles)
    W = win_rate_matrix(c)
    assert c.models == ["paper", "rock", "scissors"]
    assert W.tolist() == [[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]]
    view = nash_view(W, c.models)
    assert [view[m]["nash_mass"] for m in c.models] == pytest.approx([1 / 3] * 3, abs=1e-9)
    assert [view[m]["duality_gap"] for m in c.models] == [1.0, 1.0, 1.0]
    r = rate(battles, prior=1.0)                        # BT sees three equal models
    assert [v["rating"] for v in r.table.values()] == pytest.approx([1000.0] * 3, abs=1e-9)


def test_length_controlled_win_rate_removes_a_length_only_advantage():
    rng = np.random.default_rng(7)
    battles = []
    for i in range(600):
        base_len = int(rng.integers(50, 150))
        verbose_len = max(1, base_len + int(rng.normal(60, 60)))    # usually longer, sometimes shorter
        t = math.tanh((verbose_len - base_len) / 60.0)
        y = rng.random() < expit(3.0 * t)                           # the judge likes length, nothing else
        battles.append(Battle(model_a="verbose", model_b="base", winner="model_a" if y else "model_b",
                              prompt=f"q{i}", response_a="w " * verbose_len, response_b="w " * base_len, judge="j"))
        good = rng.random() < 0.7                                   # a better model of the same length
        battles.append(Battle(model_a="base", model_b="good", winner="model_b" if good else "model_a",
                              prompt=f"q{i}", response_a="w " * base_len, response_b="w " * base_len, judge="j"))
    lc = length_controlled_win_rate(battles, baseline="base")
    assert lc["verbose"]["win_rate"] > 0.75
    assert abs(lc["verbose"]["lc_win_rate"] - 0.5) < 0.08
    assert lc["verbose"]["length_coef"] > 1.5
    assert abs(lc["good"]["lc_win_rate"] - lc["good"]["win_rate"]) < 0.02
    with pytest.raises(ValueError, match="no battle involves the baseline 'gpt4'"):
        length_controlled_win_rate(battles, baseline="gpt4")


def test_style_control_separates_length_from_quality():
    rng = np.random.default_rng(8)
    battles = []
    strength = {"long": 0.0, "short": 0.0, "best": 0.8}
    names = list(strength)
    for i in range(3000):
        x, y = rng.choice(3, 2, replace=False)
        la, lb = int(rng.integers(5, 200)), int(rng.integers(5, 200))
        if names[x] == "long":
            la += 150
        if names[y] == "long":
            lb += 150
        z = (la - lb) / (la + lb)
        p = expit(strength[names[x]] - strength[names[y]] + 2.0 * z / 0.45)
        battles.append({"model_a": names[x], "model_b": names[y], "winner": "model_a" if rng.random() < p else "model_b",
                        "response_a": "w " * la, "response_b": "w " * lb})
    raw = rate(battles).table
    ctrl = style_controlled(battles)
    t = ctrl.table
    assert raw["long"]["rating"] - raw["short"]["rating"] > 100       # length bias in the raw ratings
    assert abs(t["long"]["rating"] - t["short"]["rating"]) < 40        # removed by the control
    assert t["best"]["rank"] == 1 and ctrl.extra["style"]["length"]["lower"] > 0


def test_bad_battles_and_unidentified_ratings_are_named():
    with pytest.raises(ValueError, match="battle 1: battle field 'winner': 'a'"):
        rate([{"model_a": "a", "model_b": "b", "winner": "model_a"}, {"model_a": "a", "model_b": "b", "winner": "a"}])
    with pytest.raises(ValueError, match="never lost or tied: a.*--prior 1"):
        rate([{"model_a": "a", "model_b": "b", "winner": "model_a"}, {"model_a": "b", "model_b": "c", "winner": "tie"}])
    with pytest.raises(ValueError, match="unknown rating method 'glicko'"):
        rate([{"model_a": "a", "model_b": "b", "winner": "tie"}], method="glicko")
    r = rate([{"model_a": "a", "model_b": "b", "winner": "model_a"}], prior=1.0, interval="none")
    assert r.table["a"]["rating"] > r.table["b"]["rating"]


def test_large_arena_solves_the_score_equations_to_rounding():
    """At 1.7M battles the optimizer alone stops with ~1e-6 battles of residual; the Newton finish removes it."""
    rng = np.random.default_rng(9)
    n = 30
    theta_true = rng.normal(0, 1, n)
    P = expit(theta_true[:, None] - theta_true[None, :])
    games = np.triu(rng.integers(2000, 6000, (n, n)), 1)
    wins = np.triu(rng.binomial(games, P), 1)
    from preflab.arena.pairs import PairCounts
    W = wins + np.tril((games - wins).T, -1)
    c = PairCounts([f"m{i}" for i in range(n)], W.astype(float), np.zeros((n, n)),
                   (games + games.T).sum(axis=1))
    assert c.games.sum() / 2 > 1.5e6
    theta = fit_bt(c)
    residual = (c.games * expit(theta[:, None] - theta[None, :])).sum(axis=1) - c.wins.sum(axis=1)
    assert np.abs(residual).max() < 1e-7
    assert abs(theta.mean()) < 1e-12
