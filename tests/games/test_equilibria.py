"""Preference models, certified equilibria, duality gaps (two-player and MNPO's multiplayer), exact metrics.

Each value is checked against the definition computed another way: best responses and gaps from the
textbook formulas of EGPO's `simulations/` (V(BR(pi), pi) - V(pi, BR'(pi)) with BR' the minimizer), brute force
over a grid on the 3-simplex, and equilibria from a long independent mirror-descent run.
"""

import numpy as np
import pytest
from scipy.special import expit, softmax

from preflab.games import (NotCertified, best_response, bradley_terry, check_policy, check_preference,
                           condorcet_mixture, cyclic, duality_gap, empirical, exploitability, is_transitive, kl,
                           make_preference, maximal_lottery, mixture, multiplayer_gap, multiplayer_nash,
                           multiplayer_payoff, policy_report, random_preference, regularized_nash, win_rate)


def V(P, p1, p2, beta, ref):
    """The regularized game's value, from its definition."""
    return p1 @ P @ p2 - beta * kl(p1, ref) + beta * kl(p2, ref)


def textbook_gap(P, pi, beta, ref):
    """EGPO simulations' form: V(BR(pi), pi) - V(pi, BR'(pi)), BR ∝ ref exp(P pi / beta), BR' ∝ ref exp(-P^T pi / beta)."""
    br_max = softmax(np.log(ref) + P @ pi / beta)
    br_min = softmax(np.log(ref) - P.T @ pi / beta)
    return V(P, br_max, pi, beta, ref) - V(P, pi, br_min, beta, ref)


def simplex_grid(k=200):
    a, b = np.meshgrid(np.arange(k + 1), np.arange(k + 1))
    keep = a + b <= k
    pts = np.stack([a[keep], b[keep], k - a[keep] - b[keep]], axis=1) / k
    return pts


def mirror_descent_equilibrium(P, beta, ref, steps=20000, eta=0.5):
    """Magnetic mirror descent (a different algorithm from the solver's Newton): linear convergence."""
    logp = np.log(ref).copy()
    for _ in range(steps):
        pi = np.exp(logp)
        logp = (logp + eta * beta * np.log(ref) + eta * (P @ pi)) / (1 + eta * beta)
        logp -= np.log(np.exp(logp).sum())
    return np.exp(logp)


# -- preference models -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["random", "bt", "cyclic", "mixture"])
@pytest.mark.parametrize("n", [3, 4, 10])
def test_every_family_is_a_valid_constant_sum_game(kind, n):
    P = make_preference(kind, n, seed=3)
    np.testing.assert_allclose(P + P.T, 1.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(P), 0.5)
    assert P.min() >= 0 and P.max() <= 1
    check_preference(P)


def test_cyclic_is_rock_paper_scissors_and_intransitive():
    P = cyclic(3, strength=0.6)
    assert P[0, 1] == P[1, 2] == P[2, 0] == pytest.approx(0.8)
    assert P[1, 0] == pytest.approx(0.2)
    P4 = cyclic(4)
    assert P4[0, 2] == 0.5 and P4[0, 1] == 1.0 and P4[0, 3] == 0.0     # the opposite response ties
    assert not is_transitive(P) and not is_transitive(cyclic(7))


def test_bradley_terry_and_condorcet_mixture():
    r = np.array([0.3, -1.0, 2.0, 0.0])
    P = bradley_terry(r, temperature=0.5)
    assert P[2, 1] == pytest.approx(expit(6.0))
    assert is_transitive(P)
    # three transitive voters whose majority cycles: 0 > 1 > 2, 1 > 2 > 0, 2 > 0 > 1
    U = np.array([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [2.0, 1.0, 3.0]])
    M = mixture(U, temperature=0)
    assert M[0, 1] == pytest.approx(2 / 3) and M[1, 2] == pytest.approx(2 / 3) and M[2, 0] == pytest.approx(2 / 3)
    assert all(is_transitive(mixture(U[k:k + 1], temperature=0)) for k in range(3))
    assert not is_transitive(M)
    assert not is_transitive(condorcet_mixture(10))
    np.testing.assert_allclose(mixture(U, weights=[1, 0, 0], temperature=1.0), bradley_terry(U[0]), atol=1e-15)


def test_empirical_preference_from_counts():
    W = np.array([[0, 7, 0], [3, 0, 2], [0, 2, 0]])
    P = empirical(W, prior=0.5)
    assert P[0, 1] == pytest.approx(7.5 / 11) and P[1, 0] == pytest.approx(3.5 / 11)
    assert P[0, 2] == 0.5                                   # never compared
    assert P[1, 2] == pytest.approx(0.5)
    check_preference(P)


@pytest.mark.parametrize("bad, message", [
    (np.ones((2, 3)) / 2, "square"),
    ([[0.5]], "at least 2"),
    ([[0.5, 1.2], [-0.2, 0.5]], r"P\[0, 1\] = 1.2 is a probability"),
    ([[0.4, 0.5], [0.5, 0.6]], r"P\[0, 0\] = 0.4"),
    ([[0.5, 0.7], [0.7, 0.5]], r"P\[0, 1\] \+ P\[1, 0\] = 1.4"),
    ([[0.5, np.nan], [0.5, 0.5]], "not finite"),
])
def test_bad_preference_matrices_name_the_entry(bad, message):
    with pytest.raises(ValueError, match=message):
        check_preference(bad)


def test_bad_policies_are_refused():
    with pytest.raises(ValueError, match="vector of 3"):
        check_policy([0.5, 0.5], 3)
    with pytest.raises(ValueError, match="sums to 0.9"):
        check_policy([0.5, 0.3, 0.1], 3)
    with pytest.raises(ValueError, match=r"ref\[1\] = -0.1 is negative"):
        regularized_nash(cyclic(3), 0.1, ref=[0.6, -0.1, 0.5])
    with pytest.raises(ValueError, match="beta must be"):
        duality_gap(cyclic(3), [1 / 3] * 3, beta=-1)
    with pytest.raises(ValueError, match="unknown preference model 'cylic'"):
        make_preference("cylic", 5)


# -- gaps ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("beta", [1.0, 0.1, 0.01])
def test_gap_equals_the_textbook_definition(beta):
    rng = np.random.default_rng(0)
    for seed in range(5):
        P = random_preference(6, seed)
        ref = rng.dirichlet(np.ones(6))
        pi = rng.dirichlet(np.ones(6) * 0.5)
        assert duality_gap(P, pi, beta, ref) == pytest.approx(textbook_gap(P, pi, beta, ref), abs=1e-12)
        # nothing beats the best response
        br = best_response(P, pi, beta, ref)
        best = V(P, br, pi, beta, ref)
        for sigma in rng.dirichlet(np.ones(6), size=50):
            assert V(P, sigma, pi, beta, ref) <= best + 1e-12
        assert exploitability(P, pi, beta, ref) == pytest.approx(best - V(P, pi, pi, beta, ref), abs=1e-12)


def test_gap_by_brute_force_on_the_simplex():
    P, beta, ref = random_preference(3, 1), 0.2, np.array([0.5, 0.3, 0.2])
    pi = np.array([0.2, 0.5, 0.3])
    grid = simplex_grid(300)
    best = max(V(P, s, pi, beta, ref) for s in grid)
    worst = min(V(P, pi, s, beta, ref) for s in grid)
    assert duality_gap(P, pi, beta, ref) == pytest.approx(best - worst, abs=2e-4)
    assert duality_gap(P, pi, beta, ref) >= best - worst - 1e-12          # the grid cannot beat the optimum


def test_unregularized_gap_is_twice_the_best_advantage():
    P = random_preference(8, 4)
    pi = np.random.default_rng(1).dirichlet(np.ones(8))
    assert duality_gap(P, pi, 0.0) == pytest.approx(2 * np.max((P - 0.5) @ pi), abs=1e-15)
    assert duality_gap(P, pi, 0.0) > 0.01
    assert duality_gap(cyclic(5), np.full(5, 0.2), 0.0) == pytest.approx(0.0, abs=1e-15)


# -- equilibria ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["random", "mixture", "bt", "cyclic"])
@pytest.mark.parametrize("beta", [1.0, 0.1, 0.01, 0.001])
def test_regularized_nash_is_certified(kind, beta):
    for n in (5, 40):
        P = make_preference(kind, n, seed=n)
        ref = np.random.default_rng(n).dirichlet(np.ones(n) * 3)
        pi = regularized_nash(P, beta, ref)
        assert duality_gap(P, pi, beta, ref) <= 1e-10
        np.testing.assert_allclose(pi, best_response(P, pi, beta, ref), atol=1e-5)   # pi = BR(pi)


def test_regularized_nash_matches_an_independent_solver():
    P, ref = random_preference(7, 11), np.random.default_rng(2).dirichlet(np.ones(7))
    for beta in (1.0, 0.2):
        np.testing.assert_allclose(regularized_nash(P, beta, ref), mirror_descent_equilibrium(P, beta, ref),
                                   atol=1e-9)


def test_regularized_nash_limits():
    P = random_preference(9, 5)
    assert np.abs(regularized_nash(P, 1e4) - 1 / 9).max() < 1e-4              # beta -> inf: the reference
    ml = maximal_lottery(P)
    assert np.abs(regularized_nash(P, 1e-3) - ml).sum() < 0.05                 # beta -> 0: the maximal lottery
    assert np.abs(regularized_nash(P, 1e-1) - ml).sum() > 0.05


def test_reference_support_is_kept():
    P, ref = random_preference(5, 2), np.array([0.4, 0.0, 0.3, 0.3, 0.0])
    pi = regularized_nash(P, 0.05, ref)
    assert pi[1] == 0 and pi[4] == 0
    assert duality_gap(P, pi, 0.05, ref) <= 1e-10
    assert duality_gap(P, np.full(5, 0.2), 0.05, ref) == float("inf")


def test_solver_that_cannot_certify_says_so():
    with pytest.raises(NotCertified, match="duality gap"):
        regularized_nash(random_preference(30, 0), 0.01, max_iter=0)


def test_maximal_lottery_closed_forms():
    np.testing.assert_allclose(maximal_lottery(cyclic(5)), np.full(5, 0.2), atol=1e-9)
    assert maximal_lottery(bradley_terry([0.0, 3.0, 1.0, -1.0]))[1] == pytest.approx(1.0)  # Condorcet winner
    # 0 beats 1 by x, 1 beats 2 by y, 2 beats 0 by z: the equilibrium is ∝ (y, z, x)
    x, y, z = 0.1, 0.3, 0.2
    P = 0.5 + np.array([[0, x, -z], [-x, 0, y], [z, -y, 0]])
    np.testing.assert_allclose(maximal_lottery(P), np.array([y, z, x]) / (x + y + z), atol=1e-9)
    for seed in range(5):
        P = random_preference(11, seed)
        pi = maximal_lottery(P)
        assert np.all(pi @ P >= 0.5 - 1e-9)                  # no response beats it
        assert duality_gap(P, pi, 0.0) <= 1e-9


# -- the multiplayer game of MNPO ---------------------------------------------------------------------------

@pytest.mark.parametrize("players", [2, 3, 5])
def test_multiplayer_gap_is_half_the_two_player_gap_at_a_symmetric_profile(players):
    P, beta = random_preference(6, 7), 0.1
    ref = np.random.default_rng(4).dirichlet(np.ones(6))
    pi = np.random.default_rng(5).dirichlet(np.ones(6))
    gaps = multiplayer_gap(P, [pi] * players, beta, ref)
    np.testing.assert_allclose(gaps, duality_gap(P, pi, beta, ref) / 2, atol=1e-13)
    eq = multiplayer_nash(P, players, beta, ref)
    assert np.all(multiplayer_gap(P, [eq] * players, beta, ref) <= 1e-10)


def test_multiplayer_gap_by_brute_force_for_each_player():
    P, beta, ref = random_preference(3, 8), 0.3, np.full(3, 1 / 3)
    profile = [np.array([0.6, 0.3, 0.1]), np.array([0.2, 0.2, 0.6]), np.array([0.3, 0.4, 0.3])]
    gaps = multiplayer_gap(P, profile, beta, ref)
    grid = simplex_grid(300)
    for i in range(3):
        others = profile[:i] + profile[i + 1:]
        best = max(multiplayer_payoff(P, s, others, beta, ref) for s in grid[::7])
        assert gaps[i] == pytest.approx(best - multiplayer_payoff(P, profile[i], others, beta, ref), abs=2e-3)
        assert gaps[i] > 0.01


def test_plackett_luce_group_game():
    r = np.array([0.0, 1.0, 0.5, -0.5])
    P, beta = bradley_terry(r), 0.2
    pi = np.array([0.1, 0.4, 0.3, 0.2])
    # one opponent: Plackett-Luce is Bradley-Terry, so both group models agree
    np.testing.assert_allclose(multiplayer_gap(P, [pi, pi], beta, group="plackett_luce", rewards=r),
                               multiplayer_gap(P, [pi, pi], beta), atol=1e-13)
    # two opponents, by hand: E_{a, b ~ pi} e^{r_y} / (e^{r_y} + e^{r_a} + e^{r_b})
    e = np.exp(r)
    u = np.array([sum(pi[a] * pi[b] * e[y] / (e[y] + e[a] + e[b]) for a in range(4) for b in range(4))
                  for y in range(4)])
    assert multiplayer_payoff(P, pi, [pi, pi], beta, group="plackett_luce", rewards=r) == pytest.approx(
        pi @ u - beta * kl(pi, np.full(4, 0.25)), abs=1e-14)
    eq3 = multiplayer_nash(P, 3, beta, group="plackett_luce", rewards=r)
    eq2 = multiplayer_nash(P, 2, beta, group="plackett_luce", rewards=r)
    assert np.all(multiplayer_gap(P, [eq3] * 3, beta, group="plackett_luce", rewards=r) <= 1e-10)
    assert np.abs(eq3 - eq2).max() > 1e-3                  # more players move the equilibrium
    with pytest.raises(ValueError, match="needs the rewards"):
        multiplayer_gap(P, [pi, pi], beta, group="plackett_luce")


# -- metrics ------------------------------------------------------------------------------------------------

def test_policy_report():
    P, beta = random_preference(5, 9), 0.1
    ref, pi = np.full(5, 0.2), np.array([0.5, 0.2, 0.1, 0.1, 0.1])
    rep = policy_report(P, pi, beta, ref)
    assert rep["win_rate_vs_ref"] == pytest.approx(sum(pi[i] * P[i, j] * 0.2 for i in range(5) for j in range(5)))
    assert rep["kl_to_ref"] == pytest.approx(np.sum(pi * np.log(pi / 0.2)))
    assert rep["exploitability"] == pytest.approx(rep["duality_gap"] / 2)
    assert 0 < rep["win_rate_vs_nash"] < 1
    assert policy_report(P, pi, 0.0)["win_rate_vs_nash"] <= 0.5 + 1e-12    # nothing beats the maximal lottery
    assert win_rate(P, pi, pi) == pytest.approx(0.5)
