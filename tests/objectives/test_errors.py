"""Bad input gets an error that names the objective, the field or hyperparameter, and the fix."""

import pytest
import torch

from preflab.objectives import BatchError, ObjectiveError, ScoreBatch, get_objective

from .cases import to_batch
from .reference_math import make_fields


def pair():
    return to_batch(make_fields(0, B=3, K=2))


def test_missing_reference_for_dpo():
    with pytest.raises(BatchError, match=r"dpo needs ScoreBatch\.ref_logps .*got None"):
        get_objective("dpo")(pair().replace(ref_logps=None))


def test_missing_opponents_for_mnpo():
    with pytest.raises(BatchError, match=r"mnpo needs ScoreBatch\.opponent_logps"):
        get_objective("mnpo")(pair().replace(opponent_logps=None))


def test_one_of_several_fields():
    with pytest.raises(BatchError, match=r"sppo needs ScoreBatch\.prefs or ScoreBatch\.rewards"):
        get_objective("sppo")(pair().replace(prefs=None, rewards=None))


def test_shapes_disagree():
    with pytest.raises(BatchError, match=r"ScoreBatch\.ref_logps must have shape \[B=2, K=2\].*got \(2, 3\)"):
        ScoreBatch(policy_logps=torch.zeros(2, 2), ref_logps=torch.zeros(2, 3))
    with pytest.raises(BatchError, match=r"policy_logps must have shape \[B, K\]"):
        ScoreBatch(policy_logps=torch.zeros(4))
    with pytest.raises(BatchError, match=r"token_mask must have shape \[B=1, K=2, T=5\]"):
        ScoreBatch(policy_logps=torch.zeros(1, 2), token_logps=torch.zeros(1, 2, 5), token_mask=torch.ones(1, 2, 4, dtype=torch.bool))


def test_non_finite_values_are_named():
    b = pair()
    bad = b.policy_logps.clone()
    bad[1, 0] = float("nan")
    with pytest.raises(BatchError, match=r"dpo: ScoreBatch\.policy_logps has a non-finite value at index \[1, 0\]"):
        get_objective("dpo")(b.replace(policy_logps=bad))
    inf = b.ref_logps.clone()
    inf[0, 1] = -float("inf")
    with pytest.raises(BatchError, match=r"ref_logps has a non-finite value at index \[0, 1\]"):
        get_objective("dpo")(b.replace(ref_logps=inf))


@pytest.mark.parametrize("name,key,value,pattern", [
    ("dpo", "beta", 0.0, r"dpo: beta=0\.0 is out of range; it must lie in \(0, inf\)"),
    ("dpo", "beta", -1.0, r"beta=-1\.0 is out of range"),
    ("cdpo", "label_smoothing", 0.5, r"cdpo: label_smoothing=0\.5 is out of range; it must lie in \[0, 0\.5\)"),
    ("exo_pair", "label_smoothing", 0.0, r"exo_pair: label_smoothing=0\.0 is out of range; it must lie in \(0, 0\.5\)"),
    ("dpo", "beta", "big", r"dpo: beta must be a number"),
    ("kto", "reference_point", "median", r"kto: reference_point='median' is not one of"),
    ("mnpo", "ratio", 1.5, r"mnpo: ratio=1\.5 is out of range"),
    ("dpo", "beta", float("nan"), r"beta must be finite"),
])
def test_hyperparameter_out_of_range(name, key, value, pattern):
    with pytest.raises(ObjectiveError, match=pattern):
        get_objective(name, **{key: value})


def test_hyperparameters_that_do_not_fit_together():
    with pytest.raises(ObjectiveError, match=r"inpo: tau=0\.1 must not exceed eta=0\.01"):
        get_objective("inpo", eta=0.01, tau=0.1)


def test_unknown_names_suggest_the_nearest():
    with pytest.raises(ObjectiveError, match=r"unknown objective 'simpoo'; did you mean 'simpo'\?"):
        get_objective("simpoo")
    with pytest.raises(ObjectiveError, match=r"dpo has no hyperparameter 'betta'; did you mean 'beta'\?"):
        get_objective("dpo", betta=0.1)
    with pytest.raises(ObjectiveError, match=r"no term of 'dpo \+ sft' takes the hyperparameter\(s\) \['gamma'\]"):
        get_objective("dpo + sft", gamma=1.0)


def test_pairwise_objective_on_a_list():
    b = to_batch(make_fields(0, B=2, K=4))
    with pytest.raises(BatchError, match=r"dpo reads pairs and needs K=2 responses per prompt, got K=4"):
        get_objective("dpo")(b)


def test_tied_pair():
    b = pair()
    with pytest.raises(BatchError, match=r"dpo: pair 0 is a tie"):
        get_objective("dpo")(b.replace(ranks=torch.zeros(3, 2, dtype=torch.long)))


def test_value_ranges_of_signals():
    b = pair()
    with pytest.raises(BatchError, match=r"prefs must be probabilities in \[0, 1\]"):
        get_objective("online_ipo")(b.replace(prefs=b.prefs + 1))
    with pytest.raises(BatchError, match=r"labels must be \+1 \(desirable\) or -1"):
        get_objective("kto", reference_point="batch")(b.replace(labels=torch.zeros(3, 2, dtype=torch.long)))
    with pytest.raises(BatchError, match=r"mappo needs ScoreBatch\.rewards in \[0, 1\]"):
        get_objective("mappo")(b.replace(rewards=b.rewards + 2))
    with pytest.raises(BatchError, match=r"kto with reference_point='mismatched' needs ScoreBatch\.kl_policy_logps"):
        get_objective("kto")(b.replace(kl_policy_logps=None))


def test_batch_statistics_need_two_pairs():
    b = to_batch(make_fields(0, B=1, K=2))
    with pytest.raises(BatchError, match=r"aqfl uses batch statistics .* needs B >= 2"):
        get_objective("aqfl")(b)


def test_optional_hyperparameters_are_typed():
    with pytest.raises(ObjectiveError, match=r"mnpo: weights must be a list of finite numbers"):
        get_objective("mnpo", weights="uniform")
    with pytest.raises(ObjectiveError, match=r"dr_grpo: max_completion_length must be an integer"):
        get_objective("dr_grpo", max_completion_length=7.5)
    assert get_objective("dr_grpo", max_completion_length=8.0).hparams["max_completion_length"] == 8
    assert get_objective("grpo", epsilon_high=None).hparams["epsilon_high"] is None
    with pytest.raises(ObjectiveError, match=r"rso: loss='logistic' is not one of \['hinge', 'sigmoid'\]"):
        get_objective("rso", loss="logistic")


def test_averaged_inpo_needs_lengths():
    with pytest.raises(BatchError, match=r"average_logps=True needs ScoreBatch\.lengths"):
        get_objective("inpo", average_logps=True)(pair().replace(lengths=None, opponent_logps=pair().opponent_logps[..., :1]))
