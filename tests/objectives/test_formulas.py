"""Every objective's loss equals its formula computed independently (tests/objectives/reference_math.py)."""

import numpy as np
import pytest
import torch

from preflab.objectives import get_objective, list_objectives

from .cases import CASES, fields_for, batch_for, expected


def test_every_registered_objective_has_a_case():
    assert sorted(s.name for s in list_objectives()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_equals_reference(name):
    f = fields_for(name)
    want_loss, want_per = expected(name, f)
    out = get_objective(name, **CASES[name].hparams)(batch_for(name, f))
    assert out.loss.dim() == 0 and out.per_example.shape == (CASES[name].B,)
    np.testing.assert_allclose(out.loss.item(), want_loss, rtol=1e-10, atol=1e-12)
    if want_per is not None:
        np.testing.assert_allclose(out.per_example.detach().numpy(), want_per, rtol=1e-10, atol=1e-12)
    for key, value in out.metrics.items():
        assert isinstance(value, torch.Tensor) and value.dim() == 0 and not value.requires_grad, key
        assert torch.isfinite(value), key


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_is_not_trivially_constant(name):
    """Moving the policy's log-probs moves the loss: no objective ignores its main input."""
    f = fields_for(name)
    base = get_objective(name, **CASES[name].hparams)(batch_for(name, f)).loss.item()
    g = fields_for(name)
    g["policy_logps"] = g["policy_logps"] + np.random.default_rng(1).normal(0, 0.5, g["policy_logps"].shape)
    g["token_logps"] = g["token_logps"] * 1.3
    moved = get_objective(name, **CASES[name].hparams)(batch_for(name, g)).loss.item()
    assert abs(moved - base) > 1e-6


def test_bco_running_shift_accumulates_over_batches():
    obj = get_objective("bco", **CASES["bco"].hparams)
    first = fields_for("bco", seed=0)
    second = fields_for("bco", seed=1)
    obj(batch_for("bco", first))
    from .reference_math import _responses, _rho, ref_bco
    beta = CASES["bco"].hparams["beta"]
    prev = [[beta * _rho(first, b, k) for b, k in _responses(first)]]
    want, _ = ref_bco(second, beta, previous=prev)
    assert abs(obj(batch_for("bco", second)).loss.item() - want) < 1e-10
    state = obj.state.state_dict()
    clone = get_objective("bco", **CASES["bco"].hparams)
    clone.state.load_state_dict(state)
    clone.state.frozen = obj.state.frozen = True
    third = batch_for("bco", fields_for("bco", seed=2))
    assert obj(third).loss.item() == clone(third).loss.item()
