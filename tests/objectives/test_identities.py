"""Identities between objectives: special cases that must reduce to each other exactly."""

import math

import pytest
import torch

from preflab.objectives import ScoreBatch, get_objective

from .cases import to_batch
from .reference_math import make_fields


def pair_batch(seed=0, B=5):
    return to_batch(make_fields(seed, B=B, K=2))


def close(a, b):
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_cdpo_with_zero_smoothing_is_dpo():
    b = pair_batch()
    close(get_objective("cdpo", beta=0.2, label_smoothing=0.0)(b).per_example,
          get_objective("dpo", beta=0.2)(b).per_example)


def test_swapping_chosen_and_rejected_mirrors_dpo():
    b = pair_batch()
    dpo = get_objective("dpo", beta=0.2)
    # the same pairs stored in the other slot order are the same data
    swapped_slots = b.replace(policy_logps=b.policy_logps.flip(1), ref_logps=b.ref_logps.flip(1), ranks=b.ranks.flip(1))
    close(dpo(swapped_slots).per_example, dpo(b).per_example)
    # flipping the preference turns -logsig(z) into -logsig(-z) = -logsig(z) + z
    flipped = b.replace(ranks=b.ranks.flip(1))
    close(dpo(flipped).per_example, dpo(b).per_example + 0.2 * _margin(b))


def _margin(b):
    chosen_first = (b.ranks[:, 0] < b.ranks[:, 1]).to(b.policy_logps.dtype) * 2 - 1
    rho = b.policy_logps - b.ref_logps
    return chosen_first * (rho[:, 0] - rho[:, 1])


def test_composed_objective_is_the_weighted_sum():
    b = pair_batch()
    mix = get_objective("dpo + 0.2*bco_pair + 0.5*sft", beta=0.3)
    parts = [(1.0, get_objective("dpo", beta=0.3)), (0.2, get_objective("bco_pair", beta=0.3)), (0.5, get_objective("sft"))]
    out = mix(b)
    close(out.loss, sum(w * o(b).loss for w, o in parts))
    close(out.per_example, sum(w * o(b).per_example for w, o in parts))
    assert out.metrics["dpo/rewards/margins"] == parts[0][1](b).metrics["rewards/margins"]
    # Python arithmetic builds the same objective
    same = get_objective("dpo", beta=0.3) + 0.2 * get_objective("bco_pair", beta=0.3) + get_objective("sft") * 0.5
    close(same(b).loss, out.loss)
    # a dotted hyperparameter reaches one term only
    one = get_objective("dpo + bco_pair", **{"bco_pair.beta": 0.7})
    assert [o.hparams["beta"] for _, o in one.terms] == [0.1, 0.7]


def test_lipo_lambda_with_two_responses_is_weighted_dpo():
    b = pair_batch()
    b = b.replace(rewards=None, prefs=None)          # labels from the ranks: win rates 3/4 and 1/4
    delta = (2 ** 0.75 - 2 ** 0.25) * (1 - 1 / math.log2(3))
    close(get_objective("lipo_lambda", beta=0.2)(b).per_example, delta * get_objective("dpo", beta=0.2)(b).per_example)


def test_plackett_luce_with_two_responses_is_dpo():
    b = pair_batch()
    close(get_objective("plackett_luce", beta=0.2)(b).per_example, get_objective("dpo", beta=0.2)(b).per_example)


def test_mnpo_with_one_opponent_is_inpo():
    f = make_fields(3, B=5, K=2, M=1)
    b = to_batch(f)
    eta, tau = 0.05, 0.02
    close(get_objective("mnpo", eta=eta, ratio=tau / eta, weights=(1.0,), average_logps=True)(b).per_example,
          get_objective("inpo", eta=eta, tau=tau, average_logps=True)(b).per_example)
    # uniform weights (None) over one opponent are the same thing
    close(get_objective("mnpo", eta=eta, ratio=tau / eta)(b).per_example,
          get_objective("inpo", eta=eta, tau=tau, average_logps=True)(b).per_example)


def test_mnpo_weights_are_normalized():
    b = to_batch(make_fields(4, B=5, K=2, M=3))
    close(get_objective("mnpo", weights=(1.0, 2.0, 3.0))(b).per_example,
          get_objective("mnpo", weights=(2.0, 4.0, 6.0))(b).per_example)


def test_alpha_divergence_at_one_is_forward_kl():
    b = pair_batch()
    close(get_objective("fdpo_alpha", beta=0.2, alpha=1.0)(b).per_example,
          get_objective("fdpo_forward_kl", beta=0.2)(b).per_example)


def test_h_dpo_at_alpha_one_is_dpo():
    b = pair_batch()
    close(get_objective("h_dpo", beta=0.2, alpha=1.0)(b).per_example, get_objective("dpo", beta=0.2)(b).per_example)


def test_mappo_with_a_full_reward_gap_is_dpo():
    b = pair_batch()
    rewards = torch.where(b.ranks == 0, 1.0, 0.0).to(b.policy_logps.dtype)
    close(get_objective("mappo", beta=0.2)(b.replace(rewards=rewards)).per_example,
          get_objective("dpo", beta=0.2)(b).per_example)


def test_online_ipo_with_certain_preferences_is_ipo_sum():
    b = pair_batch()
    prefs = torch.tensor([[0.5, 1.0], [0.0, 0.5]], dtype=b.policy_logps.dtype).expand(b.B, 2, 2)
    b = b.replace(prefs=prefs, ranks=None)
    close(get_objective("online_ipo", beta=0.2)(b).per_example, get_objective("ipo_sum", beta=0.2)(b).per_example)


def test_egpo_on_a_pair_is_online_ipo():
    b = pair_batch()
    close(get_objective("egpo", beta=0.2)(b).per_example, get_objective("online_ipo", beta=0.2)(b).per_example)


def test_sppo_with_hard_win_rates_is_half_sppo_hard():
    b = pair_batch().replace(ranks=None)
    prefs = torch.tensor([[0.5, 1.0], [0.0, 0.5]], dtype=b.policy_logps.dtype).expand(b.B, 2, 2)
    # with a pair, the self term 1/2 makes P_w = 3/4 and P_l = 1/4; as win rates in rewards: 1 and 0
    hard = b.replace(prefs=None, rewards=torch.tensor([[1.0, 0.0]], dtype=b.policy_logps.dtype).expand(b.B, 2))
    close(get_objective("sppo", beta=0.2)(hard).per_example, 0.5 * get_objective("sppo_hard", beta=0.2)(b).per_example)
    soft = get_objective("sppo", beta=0.2)(b.replace(prefs=prefs)).per_example
    rho = b.policy_logps - b.ref_logps
    close(soft, 0.5 * ((rho[:, 0] - 0.25 / 0.2) ** 2 + (rho[:, 1] + 0.25 / 0.2) ** 2))


def test_rso_on_a_pair_is_hinge():
    b = pair_batch()
    rewards = torch.where(b.ranks == 0, 0.9, 0.1).to(b.policy_logps.dtype)
    close(get_objective("rso", beta=0.2)(b.replace(rewards=rewards)).per_example, get_objective("hinge", beta=0.2)(b).per_example)


def test_dno_hard_without_margin_is_dpo_against_pi_t():
    b = pair_batch()
    rewards = torch.where(b.ranks == 0, 1.0, 0.0).to(b.policy_logps.dtype)
    b = b.replace(prefs=None, rewards=rewards)
    pi_t = b.opponent_logps[..., :1]
    close(get_objective("dno", beta=0.2, hard=True)(b.replace(opponent_logps=pi_t)).per_example,
          get_objective("dpo", beta=0.2)(b.replace(ref_logps=pi_t[..., 0])).per_example)


def test_discopop_tends_to_logistic_for_wrong_pairs_and_exponential_for_right_ones():
    pol = torch.tensor([[-10.0, -30.0], [-30.0, -10.0]], dtype=torch.float64)
    b = ScoreBatch(policy_logps=pol, ref_logps=torch.full_like(pol, -20.0))
    out = get_objective("discopop", beta=0.05)(b).per_example   # z = +1 and -1: gate sig(+-20), 1 and 0 to 2e-9
    want = torch.tensor([math.exp(-1.0), math.log(1 + math.exp(1.0))], dtype=torch.float64)
    torch.testing.assert_close(out, want, rtol=0, atol=1e-8)


def test_discopop_slope_at_zero_margin_is_positive():
    """LRML's gate turns on fast (tau = 0.05): at z = 0 the loss *rises* with the margin,
    dL/dz = g'(0) (e^0 + logsig(0)) + (1 - g) (-sig(0)) - g = 5 (1 - ln 2) - 3/4."""
    pol = torch.tensor([[-10.0, -10.0]], dtype=torch.float64, requires_grad=True)
    b = ScoreBatch(policy_logps=pol, ref_logps=torch.full((1, 2), -10.0, dtype=torch.float64))
    get_objective("discopop", beta=1.0, tau=0.05)(b).loss.backward()
    assert abs(pol.grad[0, 0].item() - (5 * (1 - math.log(2)) - 0.75)) < 1e-12
