"""The dynamics of preflab.games.dynamics and the generic objective path: contract, exact steps checked by
hand (closed forms from REFERENCES.md, gradients by finite differences), determinism, reproducibility,
sampled-to-exact convergence, and the errors on bad input."""

import numpy as np
import pytest
from scipy.special import expit, softmax

from preflab.games import best_response, bradley_terry, random_preference, regularized_nash
from preflab.games.dynamics import ALGORITHMS, Algorithm, Game, run_dynamics
from preflab.games.trajectory import Trajectory

NAMES = ["rlhf_bt", "dpo", "iterative_dpo", "ipo", "online_ipo", "nash_md", "nash_md_pg", "sppo", "spo", "inpo",
         "onpo", "egpo", "mnpo", "mnpo_eq10", "dno"]
REGULARIZED = {"rlhf_bt", "dpo", "ipo", "online_ipo", "nash_md", "nash_md_pg", "inpo", "mnpo", "mnpo_eq10", "egpo"}
AVERAGED = {"sppo", "spo", "onpo", "dno"}


def grad(f, x, eps=1e-6):
    """Central finite differences."""
    out = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        out[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return out


def kl(p, q):
    return float(np.sum(p * np.log(p / q)))


# -- the contract ----------------------------------------------------------------------------------------

def test_registry_holds_exactly_the_contract_names_with_their_flags():
    assert sorted(ALGORITHMS) == sorted(NAMES)
    for name, algo in ALGORITHMS.items():
        assert isinstance(algo, Algorithm) and algo.name == name
        assert algo.summary and "\n" not in algo.summary
        assert isinstance(algo.defaults, dict) and algo.default_iterations >= 1
        assert algo.regularized == (name in REGULARIZED), name
        assert algo.averaged == (name in AVERAGED), name


@pytest.mark.parametrize("name", NAMES)
def test_every_docstring_names_paper_arxiv_update_and_both_forms(name):
    algo = ALGORITHMS[name]
    doc = algo.doc
    assert algo.arxiv and algo.arxiv in doc
    assert "Exact" in doc or "exact" in doc
    assert "ampled" in doc
    assert "pi_{t+1}" in doc or "theta <-" in doc or "r_{t+1}" in doc


def test_run_dynamics_returns_a_recorded_trajectory_and_calls_back_each_iteration():
    P = random_preference(5, seed=3)
    seen = []
    traj = run_dynamics(P, "inpo", 0.2, iterations=25, every=10, callback=seen.append)
    assert isinstance(traj, Trajectory) and traj.algorithm == "inpo"
    assert seen == list(range(1, 26))
    assert traj.iterations.tolist() == [0, 10, 20, 25]
    assert np.allclose(traj.policies[0], 0.2) and np.allclose(traj.policies.sum(1), 1.0)
    assert traj.params["eta"] == 1.0 and traj.params["samples"] is None and traj.sampled is False
    assert ALGORITHMS["inpo"].defaults == {"eta": 1.0}
    assert run_dynamics(P, "sppo", 0.0, every=10_000).iterations.tolist() == [0, ALGORITHMS["sppo"].default_iterations]


def test_every_algorithm_not_regularized_runs_on_the_unregularized_game():
    P = random_preference(5, seed=2)
    for name, algo in ALGORITHMS.items():
        if not algo.regularized:
            traj = run_dynamics(P, name, 0.0, iterations=5)
            assert traj.beta == 0.0 and np.abs(traj.last - traj.policies[0]).max() > 1e-4, name


def test_hyperparameters_override_the_defaults():
    P = random_preference(4, seed=1)
    a = run_dynamics(P, "sppo", 0.0, iterations=5, eta=0.5)
    b = run_dynamics(P, "sppo", 0.0, iterations=5, eta=2.0)
    assert a.params["eta"] == 0.5 and b.params["eta"] == 2.0
    assert np.abs(a.last - b.last).max() > 1e-3


# -- exact steps by hand on a 3x3 game -------------------------------------------------------------------

def test_nash_md_step_is_the_closed_form(game3):
    P, ref, pi0 = game3
    beta, eta = 0.3, 0.8
    c = eta * beta
    mix = softmax((1 - c) * np.log(pi0) + c * np.log(ref))
    want = softmax((1 - c) * np.log(pi0) + c * np.log(ref) + eta * P @ mix)
    got = run_dynamics(P, "nash_md", beta, ref=ref, init=pi0, iterations=1, eta=eta).last
    assert np.allclose(got, want, atol=1e-14)
    # with a fixed mixture weight m the opponent is pi^(1-m) ref^m
    mix = softmax(0.5 * np.log(pi0) + 0.5 * np.log(ref))
    want = softmax((1 - c) * np.log(pi0) + c * np.log(ref) + eta * P @ mix)
    got = run_dynamics(P, "nash_md", beta, ref=ref, init=pi0, iterations=1, eta=eta, mixture=0.5).last
    assert np.allclose(got, want, atol=1e-14)


def test_nash_md_first_step_of_the_nlhf_schedule_is_the_best_response_to_ref(game3):
    # eta_0 = 2 / (beta * 2) = 1 / beta: pi_1 ∝ ref exp(P ref / beta) whatever the start
    P, ref, pi0 = game3
    got = run_dynamics(P, "nash_md", 0.25, ref=ref, init=pi0, iterations=1).last
    assert np.allclose(got, best_response(P, ref, 0.25, ref), atol=1e-13)


def test_inpo_step_is_eq5(game3):
    P, ref, pi0 = game3
    beta, eta = 0.2, 0.5
    want = np.exp(P @ pi0 / eta) * ref ** (beta / eta) * pi0 ** (1 - beta / eta)
    got = run_dynamics(P, "inpo", beta, ref=ref, init=pi0, iterations=1, eta=eta).last
    assert np.allclose(got, want / want.sum(), atol=1e-14)


def test_mnpo_two_step_history_is_the_weighted_geometric_mean(game3):
    # the anchor is the weighted geometric mean of the opponents; mnpo's win rate is against pi_t (the policy
    # that samples the pairs), mnpo_eq10's the weighted win rate against the opponents (v3 Eq. 10)
    P, ref, pi0 = game3
    beta, eta, w = 0.2, 0.5, [3.0, 1.0]
    c = beta / eta
    pi1 = run_dynamics(P, "inpo", beta, ref=ref, init=pi0, iterations=1, eta=eta).last   # one opponent so far
    lam = np.array(w) / 4.0
    geo = lam[0] * np.log(pi1) + lam[1] * np.log(pi0)
    for name, win in [("mnpo", P @ pi1), ("mnpo_eq10", lam[0] * P @ pi1 + lam[1] * P @ pi0)]:
        want = softmax(c * np.log(ref) + (1 - c) * geo + win / eta)
        got = run_dynamics(P, name, beta, ref=ref, init=pi0, iterations=2, eta=eta, history=2, weights=w)
        assert np.allclose(got.policies[1], pi1, atol=1e-14) and np.allclose(got.last, want, atol=1e-14), name
    # a fixed population replaces the past iterates (EO-MNPO); the pairs still come from pi_0
    q = np.array([0.6, 0.3, 0.1])
    for name, win in [("mnpo", P @ pi0), ("mnpo_eq10", P @ q)]:
        want = softmax(c * np.log(ref) + (1 - c) * np.log(q) + win / eta)
        got = run_dynamics(P, name, beta, ref=ref, init=pi0, iterations=1, eta=eta, population=[q]).last
        assert np.allclose(got, want, atol=1e-14), name


def _regression_minimizer(P, sampler, anchor, eta):
    """argmin over log pi of E_{y, y' ~ sampler, labelled by P}[(log pi(y_w)/pi(y_l) - anchor(y_w) + anchor(y_l)
    - 1/(2 eta))^2], by weighted least squares over the ordered pairs with both labels (numpy only)."""
    n = len(sampler)
    rows, targets, weights = [], [], []
    for a in range(n):
        for b in range(n):
            for winner, loser, p in ((a, b, P[a, b]), (b, a, P[b, a])):
                x = np.zeros(n)
                x[winner] += 1
                x[loser] -= 1
                rows.append(x)
                targets.append(anchor[winner] - anchor[loser] + 1 / (2 * eta))
                weights.append(sampler[a] * sampler[b] * p)
    sw = np.sqrt(np.array(weights))
    x = np.linalg.lstsq(np.array(rows) * sw[:, None], np.array(targets) * sw, rcond=None)[0]
    return softmax(x)


def test_mnpo_and_inpo_steps_are_the_minimizers_of_the_regressions_they_train(game3):
    # the registered objectives, trained to convergence on each round's data (exact pairs drawn from the
    # round-start policy pi_t, opponents the last round starts), end each round where the closed-form steps
    # go; MNPO's v3 Eq. 10 (win rate against the opponents instead of pi_t) differs by ~0.07 in logits here
    P, ref, pi0 = game3
    beta, rounds, sync = 0.2, 3, 60
    trained = {}
    for name, kwargs in [("mnpo", {"history": 2}), ("inpo", {})]:
        trained[name] = run_dynamics(P, f"objective:{name}", beta, ref=ref, init=pi0, iterations=rounds * sync,
                                     every=sync, sync=sync, sample_from="round", optimizer="sgd", lr=0.5)
        assert trained[name].params["eta"] == pytest.approx(3 * beta)
        assert trained[name].params["sample_from"] == "round"
        step = run_dynamics(P, name, beta, ref=ref, init=pi0, iterations=rounds, eta=3 * beta, **kwargs)
        assert np.abs(np.log(trained[name].policies) - np.log(step.policies)).max() < 1e-9, name
    eq10 = run_dynamics(P, "mnpo_eq10", beta, ref=ref, init=pi0, iterations=rounds, eta=3 * beta, history=2)
    assert np.abs(np.log(trained["mnpo"].policies[2:]) - np.log(eq10.policies[2:])).max() > 0.05
    # the same minimizer by plain least squares, for a population of opponents (EO-MNPO) and eta != 3 beta
    q = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    eta, c = 0.5, beta / 0.5
    anchor = c * np.log(ref) + (1 - c) * np.log(q).mean(0)
    got = run_dynamics(P, "mnpo", beta, ref=ref, init=pi0, iterations=1, eta=eta, population=q).last
    assert np.allclose(got, _regression_minimizer(P, pi0, anchor, eta), atol=1e-12)


def test_sppo_spo_dno_onpo_steps_are_multiplicative_weights(game3):
    P, ref, pi0 = game3
    r0 = P @ pi0
    want = softmax(np.log(pi0) + 0.7 * (r0 - 0.5))
    for name, hp in [("sppo", {"eta": 0.7}), ("spo", {"eta": 0.7}), ("dno", {"eta": 1 / 0.7})]:
        assert np.allclose(run_dynamics(P, name, 0.0, ref=ref, init=pi0, iterations=1, **hp).last, want, atol=1e-14)
    # ONPO: the first step has m_0 = r_0, the second uses 2 r_1 - r_0
    eta = 0.9
    pi1 = softmax(np.log(pi0) + eta * r0)
    pi2 = softmax(np.log(pi1) + eta * (2 * P @ pi1 - r0))
    got = run_dynamics(P, "onpo", 0.0, ref=ref, init=pi0, iterations=2, eta=eta)
    assert np.allclose(got.policies[1], pi1, atol=1e-14) and np.allclose(got.last, pi2, atol=1e-14)


def test_egpo_step_is_an_extragradient_mirror_step(game3):
    P, ref, pi0 = game3
    beta, eta = 0.3, 2.0
    c = eta * beta
    half = softmax((1 - c) * np.log(pi0) + c * np.log(ref) + eta * P @ pi0)
    want = softmax((1 - c) * np.log(pi0) + c * np.log(ref) + eta * P @ half)
    got = run_dynamics(P, "egpo", beta, ref=ref, init=pi0, iterations=1, eta=eta).last
    assert np.allclose(got, want, atol=1e-14)


def test_egpo_step_is_egpo_s_own_extragradient_on_its_simulation_loss(game3):
    # zhourunlong/EGPO simulations/loss_funcs.py `extragradient`: SGD on the logits of
    # L(theta; u) = sum_ab (h_a - h_b - (u_a - u_b) / beta)^2 / N^2 with u = P pi held fixed: a step to the
    # extrapolated point with u = P pi_t, then, from theta_t, a step with u = P pi_{t+1/2} (the log-ratio h
    # stays at theta_t, as its LLM trainer computes the second gradient after restoring theta_t). One SGD
    # step of lr is the mirror step eta = 4 lr / (N beta).
    P, ref, pi0 = game3
    beta, lr, n = 0.3, 0.1, 3

    def loss(theta, u):
        h = theta - np.log(np.exp(theta).sum()) - np.log(ref)
        return np.sum((h[:, None] - h[None, :] - (u[:, None] - u[None, :]) / beta) ** 2) / n ** 2

    theta0 = np.log(pi0)
    half = theta0 - lr * grad(lambda th: loss(th, P @ pi0), theta0)
    theta1 = theta0 - lr * grad(lambda th: loss(th, P @ softmax(half)), theta0)
    got = run_dynamics(P, "egpo", beta, ref=ref, init=pi0, iterations=1, eta=4 * lr / (n * beta)).last
    assert np.allclose(got, softmax(theta1), atol=1e-8)
    # not the plain gradient step (no extrapolation), which the same lr gives from theta_0 with u = P pi_0
    assert np.abs(got - softmax(half)).max() > 1e-3


def test_online_ipo_step_is_sgd_on_the_expected_ipo_loss(game3):
    P, ref, pi0 = game3
    beta, lr = 0.3, 0.05
    theta0 = np.log(pi0)

    def loss(theta):        # E_{y, y' ~ sg(pi_0)} (h(y) - h(y') - (P(y > y') - 1/2) / beta)^2
        h = theta - np.log(np.exp(theta).sum()) - np.log(ref)
        return np.sum(np.outer(pi0, pi0) * (h[:, None] - h[None, :] - (P - 0.5) / beta) ** 2)

    want = softmax(theta0 - lr * grad(loss, theta0))
    got = run_dynamics(P, "online_ipo", beta, ref=ref, init=pi0, iterations=1, lr=lr).last
    assert np.allclose(got, want, atol=1e-8)


def test_nash_md_pg_step_is_the_policy_gradient_of_the_regularized_payoff(game3):
    P, ref, pi0 = game3
    beta, lr, m = 0.3, 2.0, 0.25
    mix = softmax((1 - m) * np.log(pi0) + m * np.log(ref))

    def payoff(theta):      # pi . P(y > mix) - beta KL(pi || ref), the mixture held fixed
        pi = softmax(theta)
        return pi @ P @ mix - beta * kl(pi, ref)

    want = softmax(np.log(pi0) + lr * grad(payoff, np.log(pi0)))
    got = run_dynamics(P, "nash_md_pg", beta, ref=ref, init=pi0, iterations=1, lr=lr, mixture=m).last
    assert np.allclose(got, want, atol=1e-8)


def test_dpo_and_ipo_steps_are_gradient_steps_on_the_infinite_data_loss(game3):
    P, ref, pi0 = game3
    beta, lr = 0.3, 1.0
    W = 2 * np.outer(ref, ref) * P
    np.fill_diagonal(W, ref ** 2)
    assert np.isclose(W.sum(), 1.0)

    def h(theta):
        return theta - np.log(np.exp(theta).sum()) - np.log(ref)

    def dpo(theta):
        d = h(theta)[:, None] - h(theta)[None, :]
        return -np.sum(W * np.log(expit(beta * d)))

    def ipo(theta):
        d = h(theta)[:, None] - h(theta)[None, :]
        return np.sum(W * (beta * d - 0.5) ** 2)

    theta0 = np.log(pi0)
    got = run_dynamics(P, "dpo", beta, ref=ref, init=pi0, iterations=1, lr=lr).last
    assert np.allclose(got, softmax(theta0 - lr / beta ** 2 * grad(dpo, theta0)), atol=1e-8)
    got = run_dynamics(P, "ipo", beta, ref=ref, init=pi0, iterations=1, lr=lr).last
    assert np.allclose(got, softmax(theta0 - lr / beta ** 2 * grad(ipo, theta0)), atol=1e-8)


def test_rlhf_bt_step_is_a_gradient_step_of_the_reward_fit_then_the_regularized_optimum(game3):
    P, ref, pi0 = game3
    beta, lr = 0.3, 1.0
    W = 2 * np.outer(ref, ref) * P
    np.fill_diagonal(W, ref ** 2)

    def nll(r):
        return -np.sum(W * np.log(expit(r[:, None] - r[None, :])))

    r0 = beta * np.log(pi0 / ref)
    r1 = r0 - lr * grad(nll, r0)
    got = run_dynamics(P, "rlhf_bt", beta, ref=ref, init=pi0, iterations=1, lr=lr).last
    assert np.allclose(got, softmax(np.log(ref) + r1 / beta), atol=1e-8)


def test_iterative_dpo_round_fits_dpo_with_the_round_start_as_reference(game3):
    P, ref, pi0 = game3
    beta, lr, steps = 0.5, 1.0, 30
    W = 2 * np.outer(pi0, pi0) * P
    np.fill_diagonal(W, pi0 ** 2)
    w = np.zeros(3)
    for _ in range(steps):
        G = W * (expit(w[:, None] - w[None, :]) - 1)
        w -= lr * (G.sum(1) - G.sum(0))
    got = run_dynamics(P, "iterative_dpo", 0.1, ref=ref, init=pi0, iterations=1, lr=lr, inner_steps=steps,
                       dpo_beta=beta).last
    assert np.allclose(got, softmax(np.log(pi0) + w / beta), atol=1e-14)


# -- fixed points with closed forms ----------------------------------------------------------------------

def test_ipo_converges_to_its_closed_form_optimum():
    # IPO's population optimum: pi ∝ ref exp(P(y > ref) / beta), not the Nash equilibrium
    P = random_preference(6, seed=2)
    ref = np.array([0.1, 0.2, 0.3, 0.1, 0.2, 0.1])
    traj = run_dynamics(P, "ipo", 0.5, ref=ref, iterations=400, every=400)
    assert np.allclose(traj.last, softmax(np.log(ref) + P @ ref / 0.5), atol=1e-10)


def test_dpo_on_a_bradley_terry_game_converges_to_the_rlhf_optimum():
    # with infinite data the BT fit recovers the reward, so DPO's optimum is pi ∝ ref exp(r / beta)
    r = np.array([0.0, 0.4, -0.3, 1.0, 0.2])
    traj = run_dynamics(bradley_terry(r), "dpo", 0.5, iterations=3000, every=3000)
    assert np.allclose(traj.last, softmax(r / 0.5), atol=1e-8)


def test_regularized_nash_is_a_fixed_point_of_every_nash_method():
    P = random_preference(6, seed=4)
    pi = regularized_nash(P, 0.2)
    for name in ["inpo", "mnpo", "egpo", "online_ipo", "nash_md_pg"]:
        assert np.abs(run_dynamics(P, name, 0.2, init=pi, iterations=3).last - pi).max() < 1e-9, name
    # Nash-MD with a constant step plays against the mixture pi^(1 - eta beta) ref^(eta beta), not pi: the
    # equilibrium is a fixed point only with mixture 0 (or eta_t -> 0, the NLHF schedule)
    assert np.abs(run_dynamics(P, "nash_md", 0.2, init=pi, iterations=3, eta=0.5, mixture=0.0).last - pi).max() < 1e-9
    assert np.abs(run_dynamics(P, "nash_md", 0.2, init=pi, iterations=3, eta=0.5).last - pi).max() > 1e-4


# -- determinism, reproducibility, sampled -> exact ------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_exact_form_is_deterministic_and_sampled_form_reproducible(name):
    P = random_preference(6, seed=5)
    beta = 0.2
    a, b = (run_dynamics(P, name, beta, iterations=8) for _ in range(2))
    assert np.array_equal(a.policies, b.policies)
    s1, s2, s3 = (run_dynamics(P, name, beta, iterations=8, sampled=True, samples=8, seed=s) for s in (7, 7, 8))
    assert np.array_equal(s1.policies, s2.policies) and s1.sampled and s1.params["seed"] == 7
    assert not np.array_equal(s1.policies, s3.policies)
    assert not np.array_equal(s1.policies, a.policies)


# (iterations, small and large sample counts, tolerance at the large count) per algorithm: the offline
# fits draw their data once, so their error falls as 1/sqrt(samples), amplified by 1/beta in the logits
SAMPLED_VS_EXACT = {
    "rlhf_bt": (10, 256, 65536, 0.05), "dpo": (10, 256, 65536, 0.05), "ipo": (10, 256, 65536, 0.03),
    "iterative_dpo": (1, 256, 65536, 0.06), "online_ipo": (10, 16, 2048, 0.01), "nash_md": (10, 16, 2048, 0.03),
    "nash_md_pg": (10, 16, 2048, 0.015), "inpo": (10, 16, 2048, 0.01), "mnpo": (10, 16, 2048, 0.01),
    "mnpo_eq10": (10, 16, 2048, 0.01),
    "egpo": (10, 16, 2048, 0.015), "sppo": (10, 16, 2048, 0.01), "spo": (10, 16, 512, 0.015),
    "onpo": (10, 16, 2048, 0.03), "dno": (10, 16, 512, 0.015),
}


@pytest.mark.parametrize("name", NAMES)
def test_sampled_form_approaches_the_exact_one_as_samples_grow(name):
    T, small, large, tol = SAMPLED_VS_EXACT[name]
    P = random_preference(10, seed=0)
    exact = run_dynamics(P, name, 0.1, iterations=T, every=T).last
    err = {S: np.abs(run_dynamics(P, name, 0.1, iterations=T, sampled=True, samples=S, seed=1, every=T).last
                     - exact).max() for S in (small, large)}
    assert err[large] < tol, err
    assert err[large] < err[small] / 3, err


def test_sampled_win_rates_and_pairs_are_unbiased():
    P = random_preference(5, seed=6)
    pi = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    game = Game(P, 0.1, np.full(5, 0.2), sampled=True, samples=200_000, rng=np.random.default_rng(0))
    assert np.abs(game.wins(pi) - P @ pi).max() < 5e-3
    exact = Game(P, 0.1, np.full(5, 0.2)).pair_weights(pi)
    assert np.isclose(exact.sum(), 1.0)
    assert np.abs(game.pair_weights(pi) - exact).max() < 3e-3


# -- invalid input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"algorithm": "nash-md"}, "did you mean 'nash_md'"),
    ({"algorithm": "sppo", "etaa": 1.0}, "no hyperparameter 'etaa'; did you mean 'eta'"),
    ({"algorithm": "sppo", "eta": -1.0}, r"eta=-1.0 must be > 0"),
    ({"algorithm": "nash_md", "mixture": 1.5}, r"mixture=1.5 must lie in \[0, 1\]"),
    ({"algorithm": "mnpo", "history": 0}, "history=0 must be an integer >= 1"),
    ({"algorithm": "mnpo", "history": 2, "weights": [1.0, 2.0, 3.0]}, "3 weights for 2 opponents"),
    ({"algorithm": "mnpo", "weights": [-1.0, 2.0]}, "non-negative"),
    ({"algorithm": "inpo", "eta": 0.05}, "eta=0.05 < beta=0.1"),
    ({"algorithm": "egpo", "eta": 20.0}, r"eta \* beta = 2 > 1"),
    ({"algorithm": "nash_md", "eta": 11.0}, r"eta \* beta = 1.1 > 1"),
    ({"algorithm": "iterative_dpo", "inner_steps": 2.5}, "inner_steps=2.5 must be an integer"),
    ({"algorithm": "sppo", "beta": -0.1}, "beta must be a finite number >= 0"),
    ({"algorithm": "sppo", "beta": float("nan")}, "beta must be a finite number >= 0"),
    ({"algorithm": "nash_md", "beta": 0.0}, "needs beta > 0"),
    ({"algorithm": "sppo", "ref": [0.5, 0.5, 0.0, 0.0]}, r"ref\[2\] = 0"),
    ({"algorithm": "sppo", "ref": [0.5, 0.5]}, "ref must be a vector of 4 probabilities"),
    ({"algorithm": "sppo", "init": [0.5, 0.6, 0.0, 0.0]}, "init sums to"),
    ({"algorithm": "sppo", "iterations": -1}, "iterations must be an integer >= 0"),
    ({"algorithm": "sppo", "iterations": 2.0}, "iterations must be an integer >= 0"),
    ({"algorithm": "sppo", "samples": 0}, "samples must be an integer >= 1"),
    ({"algorithm": "sppo", "every": 0}, "every must be an integer >= 1"),
    ({"algorithm": "sppo", "callback": 3}, "callback must be callable"),
    ({"algorithm": "spo", "sampled": True, "samples": 1}, "needs samples >= 2"),
    ({"algorithm": "mnpo", "population": [[0.5, 0.5, 0.0, 0.0]]}, "positive probability"),
    ({"algorithm": "iterative_dpo", "dpo_beta": 0.0}, "dpo_beta=0.0 must be > 0"),
])
def test_invalid_input_raises_a_clear_value_error(kwargs, match):
    kwargs = {"beta": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        run_dynamics(random_preference(4, seed=0), iterations=kwargs.pop("iterations", 3), **kwargs)


def test_an_invalid_preference_matrix_is_named():
    P = random_preference(4, seed=0)
    P[0, 1] = 0.9
    with pytest.raises(ValueError, match=r"P\[0, 1\] \+ P\[1, 0\]"):
        run_dynamics(P, "inpo", 0.1)


# -- the generic objective path --------------------------------------------------------------------------

def test_generic_online_ipo_reaches_the_regularized_equilibrium(games):
    # online IPO's fixed point is the beta-regularized Nash equilibrium; through the registry's `ipo` loss
    # on pairs from the current policy, trained with the default optimizer (RMSprop, lr 0.01)
    for name in ("random", "cyclic"):
        P, ref = games[name]
        traj = run_dynamics(P, "objective:ipo", 0.1, ref=ref, iterations=300, every=300, online=True)
        assert traj.algorithm == "objective:ipo" and traj.gaps[0] > 0.05
        assert traj.gaps[-1] < 1e-3, (name, traj.gaps[-1])
    P, ref = games["random"]
    traj = run_dynamics(P, "objective:ipo", 0.1, iterations=300, every=300, online=True, sampled=True, samples=64)
    assert traj.gaps[-1] < 1e-2


@pytest.mark.parametrize("objective, dynamic, knobs, hyper", [
    ("ipo", "online_ipo", {"online": True, "lr": 0.05}, {"lr": 0.05}),          # IPO online = online IPO
    ("online_ipo", "online_ipo", {"lr": 0.05}, {"lr": 0.05}),
    ("nash_md", "nash_md_pg", {"lr": 2.0, "mixture": 0.25}, {"lr": 2.0, "mixture": 0.25}),
    ("dpo", "dpo", {"lr": 1.0 / 0.1 ** 2}, {"lr": 1.0}),                       # dynamics' lr is on beta * theta
    ("ipo", "ipo", {"lr": 0.25}, {"lr": 0.25}),                                # dynamics' loss is IPO * beta^2
])
def test_generic_path_with_sgd_retraces_the_exact_dynamics(objective, dynamic, knobs, hyper, games):
    P, ref = games["mixture"]
    want = run_dynamics(P, dynamic, 0.1, iterations=30, **hyper)
    got = run_dynamics(P, f"objective:{objective}", 0.1, iterations=30, optimizer="sgd", **knobs)
    assert np.abs(got.policies - want.policies).max() < 1e-12
    assert np.abs(got.last - got.policies[0]).max() > 1e-3          # it moved


def test_generic_dpo_on_offline_pairs_reaches_the_closed_form_dpo_optimum():
    r = np.array([0.0, 0.4, -0.3, 1.0, 0.2])
    ref = np.array([0.3, 0.2, 0.2, 0.1, 0.2])
    traj = run_dynamics(bradley_terry(r), "objective:dpo", 0.5, ref=ref, iterations=600, every=600, lr=0.02)
    assert traj.params["optimizer"] == "adam" and traj.params["online"] is False
    assert np.abs(traj.last - softmax(np.log(ref) + r / 0.5)).max() < 1e-6


def test_exact_pairs_enumerate_the_labelled_pair_distribution():
    from preflab.games.objective_path import _draw_rows
    P = random_preference(4, seed=2)
    q = np.array([0.4, 0.3, 0.2, 0.1])
    idx, w, first = _draw_rows(P, q, q, "pairs", 2, True, 0, None)
    W = np.zeros((4, 4))
    np.add.at(W, (np.where(first, idx[:, 0], idx[:, 1]), np.where(first, idx[:, 1], idx[:, 0])), w)
    assert np.allclose(W, Game(P, 0.1, q).pair_weights(q), atol=1e-15)
    idx, w, _ = _draw_rows(P, q, q, "lists", 3, True, 0, None)
    assert idx.shape == (64, 3) and np.isclose(w.sum(), 1.0) and np.isclose(w[0], 0.4 ** 3)


def test_list_ranks_follow_the_win_rates_and_pairs_carry_the_oracle():
    import torch
    from preflab.games.objective_path import _score_batch
    P = random_preference(5, seed=3)
    q = np.full(5, 0.2)
    logp = torch.log(torch.full((5,), 0.2, dtype=torch.float64))
    idx = np.array([[0, 3, 1, 4], [2, 2, 0, 1]])
    b = _score_batch(P, logp, np.log(q), [], idx, None, q, "lists", set())
    win = P @ q
    assert np.allclose(b.rewards.numpy(), win[idx])
    assert np.array_equal(b.ranks[0].numpy(), np.argsort(np.argsort(-win[idx[0]])))
    assert b.ranks[1, 0] == b.ranks[1, 1]                                 # the same response twice ties
    assert np.allclose(b.prefs[0].numpy(), P[np.ix_(idx[0], idx[0])])
    pairs = np.array([[1, 3], [4, 0]])
    b = _score_batch(P, logp, np.log(q), [], pairs, np.array([True, False]), q, "samples", set())
    assert b.ranks.tolist() == [[0, 1], [1, 0]] and b.labels.tolist() == [[1, -1], [-1, 1]]


def _objective_names():
    from preflab.objectives import list_objectives
    return [s.name for s in list_objectives()]


REFUSED = {"mrpo": "extra_ref_logps", "pre_dpo": "extra_ref_logps", "dro": "values"}


def test_every_registered_objective_trains_on_the_game_or_is_refused_clearly():
    P = random_preference(4, seed=1)
    refused = {}
    for name in _objective_names():
        try:
            sampled = run_dynamics(P, f"objective:{name}", 0.1, iterations=3, sampled=True, samples=8, seed=0)
        except ValueError as err:
            refused[name] = str(err)
            continue
        exact = [run_dynamics(P, f"objective:{name}", 0.1, iterations=2) for _ in range(2)]
        for traj in (sampled, *exact):
            assert np.all(np.isfinite(traj.policies)) and np.all(np.isfinite(traj.gaps)), name
        assert np.abs(sampled.last - sampled.policies[0]).max() > 1e-6, f"{name} did not move"
        assert np.array_equal(exact[0].policies, exact[1].policies), name
    assert set(refused) == set(REFUSED)
    for name, field in REFUSED.items():
        assert f"objective '{name}' needs ScoreBatch.{field}" in refused[name]


def test_generic_path_is_reproducible_and_reports_its_settings():
    P = random_preference(5, seed=0)
    seen = []
    a = run_dynamics(P, "objective:sppo", 0.1, iterations=6, sampled=True, samples=8, seed=3, callback=seen.append)
    b = run_dynamics(P, "objective:sppo", 0.1, iterations=6, sampled=True, samples=8, seed=3)
    c = run_dynamics(P, "objective:sppo", 0.1, iterations=6, sampled=True, samples=8, seed=4)
    assert np.array_equal(a.policies, b.policies) and not np.array_equal(a.policies, c.policies)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert a.params["data"] == "lists" and a.params["reference"] == "round" and a.params["batch"] == 8
    assert a.params["beta"] == 0.001                     # SPPO's beta is its step size, not the game's
    assert a.params["optimizer"] == "rmsprop" and a.params["online"] is True
    e = run_dynamics(P, "objective:sppo", 0.1, iterations=1, **{"sppo.beta": 0.5})
    assert e.params["beta"] == 0.5 and "sppo.beta" in ALGORITHMS["objective:sppo"].defaults
    d = run_dynamics(P, "objective:inpo", 0.1, iterations=2)
    assert d.params["tau"] == 0.1 and np.isclose(d.params["eta"], 0.3) and d.params["opponents"] == 1
    assert ALGORITHMS["objective:mnpo"].defaults["opponents"] == 2
    assert "2509.23102" in ALGORITHMS["objective:mnpo"].doc


@pytest.mark.parametrize("name, kwargs, match", [
    ("objective:dpoo", {}, "unknown objective 'dpoo'; did you mean 'dpo'"),
    ("objective:dpo", {"lrr": 0.1}, "no hyperparameter 'lrr'; did you mean 'lr'"),
    ("objective:dpo", {"data": "triples"}, "data='triples' is not one of"),
    ("objective:dpo", {"dpo.beta": -1.0}, "out of range"),
    ("objective:dpo", {"beta": 0.5}, "multiple values"),
    ("objective:plackett_luce", {"list_size": 6}, "more than 100000"),
    ("objective:mrpo", {}, "further reference models"),
    ("objective:dpo", {"optimizer": "lbfgs"}, "not one of"),
])
def test_generic_path_rejects_bad_settings(name, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        run_dynamics(random_preference(10, seed=0), name, 0.1, iterations=2, **kwargs)


def test_the_optimizers_first_steps_are_torchs_rules():
    import torch
    from preflab.games.objective_path import _Optimizer
    g = torch.tensor([0.5, -2.0, 1e-3], dtype=torch.float64)
    for kind, want in [("sgd", 0.1 * g), ("rmsprop", 0.1 * g / (0.1 * g.abs() + 1e-8)),
                       ("adam", 0.1 * g / (g.abs() + 1e-8))]:
        theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        (theta * g).sum().backward()
        _Optimizer(kind, 0.1).step(theta)
        assert torch.allclose(-theta.detach(), want, atol=1e-15), kind
        assert theta.grad is None


def test_importing_the_games_package_does_not_import_torch():
    import subprocess
    import sys
    code = ("import sys; from preflab.games import run_dynamics, ALGORITHMS, random_preference; "
            "run_dynamics(random_preference(4), 'sppo', 0.0, iterations=3); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spo_and_dno_sampled_steps_score_the_drawn_responses_against_each_other():
    # two draws play once: SPO's winner gets reward 1, the loser 0, responses not drawn the mean 1/2;
    # DNO scores with the self term (3/4 and 1/4) and moves them by (score - mean) / eta, the rest by 0
    P = random_preference(10, seed=0)
    pi0 = np.full(10, 0.1)
    for seed in range(6):
        spo = run_dynamics(P, "spo", 0.0, iterations=1, sampled=True, samples=2, seed=seed, eta=0.8).last
        dno = run_dynamics(P, "dno", 0.0, iterations=1, sampled=True, samples=2, seed=seed, eta=2.0).last
        for pi1, half_spread in ((spo, 0.4), (dno, 0.125)):
            moves = np.log(pi1 / pi0)
            rest = np.median(moves)                           # at least 8 of the 10 responses were not drawn
            assert np.allclose(np.sort(moves - rest)[[0, -1]], [-half_spread, half_spread], atol=1e-12) \
                or np.allclose(moves, rest, atol=1e-12)       # the same response drawn twice
