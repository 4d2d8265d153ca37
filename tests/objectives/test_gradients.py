"""Gradients: float64 finite-difference checks for every objective, exact zeros where slots are absent,
and the deliberate stop-gradients of WPO and Nash-MD pinned to their formulas."""

import pytest
import torch

from preflab.objectives import get_objective

from .cases import CASES, batch_for, fields_for

INPUTS = ("policy_logps", "token_logps", "values")


def _loss_fn(name, names=INPUTS):
    obj = get_objective(name, **CASES[name].hparams)
    if obj.state is not None:
        obj.state.frozen = True  # BCO: a fixed shift while finite differences are taken
    base = batch_for(name, fields_for(name))

    def loss(*tensors):
        return obj(base.replace(**dict(zip(names, tensors)))).loss

    inputs = tuple(getattr(base, n).detach().clone().requires_grad_(True) for n in names)
    return loss, inputs, base


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.grad_inputs))
def test_gradcheck_float64(name):
    loss, inputs, _ = _loss_fn(name, CASES[name].grad_inputs)
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.ragged))
def test_absent_slots_get_exactly_zero_gradient(name):
    loss, inputs, base = _loss_fn(name)
    loss(*inputs).backward()
    absent = ~base.mask
    assert absent.any()
    grad_logps, grad_tokens = (x.grad if x.grad is not None else torch.zeros_like(x) for x in inputs[:2])
    assert torch.isfinite(grad_logps).all() and torch.isfinite(grad_tokens).all()
    assert (grad_logps[absent] == 0).all() and (grad_tokens[absent] == 0).all()
    present = grad_logps[base.mask].abs().sum() + grad_tokens[base.mask].abs().sum()
    assert present > 0


def test_wpo_weights_carry_no_gradient():
    loss, (logps, tok), _ = _loss_fn("wpo", ("policy_logps", "token_logps"))
    loss(logps, tok).backward()
    assert logps.grad.abs().sum() > 0
    assert tok.grad is None or (tok.grad == 0).all()


def test_nash_md_gradient_is_the_reinforce_formula():
    """d loss / d log pi(y_t) = (beta * sg(log pi(y_t) - log pi_ref(y_t)) - (p - 1/2)) / B on slot 0's
    tokens, and 0 on slot 1 (y' only enters through the judged preference)."""
    loss, (tok,), base = _loss_fn("nash_md", ("token_logps",))
    loss(tok).backward()
    beta, B = CASES["nash_md"].hparams["beta"], base.B
    p = base.prefs[:, 0, 1][:, None]
    want = (beta * (tok.detach()[:, 0] - base.ref_token_logps[:, 0]) - (p - 0.5)) / B
    want = torch.where(base.token_mask[:, 0], want, torch.zeros_like(want))
    torch.testing.assert_close(tok.grad[:, 0], want, rtol=1e-12, atol=1e-14)
    assert (tok.grad[:, 1] == 0).all()
