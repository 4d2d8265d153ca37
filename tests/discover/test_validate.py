"""validate(): DPO and DiscoPOP pass with the numbers of their checks; each broken loss fails naming its check."""

import math

import pytest
import torch
import torch.nn.functional as F

from preflab.discover.validate import MARGIN_BATCHES, CandidateInvalid, random_pairs, validate
from preflab.objectives import get_objective


def margin(batch):
    pi, ref = batch.policy_logps, batch.ref_logps
    return (pi[:, 0] - ref[:, 0]) - (pi[:, 1] - ref[:, 1])


def dpo(batch, beta):
    return -F.logsigmoid(beta * margin(batch))


def test_dpo_passes_and_the_margin_drop_is_the_hand_computed_one():
    report = validate(dpo, beta=0.1, seed=3)
    assert report["ok"] is True
    checks = report["checks"]
    assert checks["shape"] == [1, 2, 7, 64] and checks["pure"] is True
    # the margin check: chosen log-prob raised by 0.5 / beta on batches seeded 3 + 1000 + k
    drops = []
    for k in range(MARGIN_BATCHES):
        b = random_pairs(64, 3 + 1000 + k, torch.float64, 0.1)
        z = 0.1 * margin(b)
        drops.append((F.softplus(-z).mean() - F.softplus(-(z + 0.5))).mean().item())
    assert checks["margin"]["shift"] == pytest.approx(5.0)
    assert checks["margin"]["mean_drop"] == pytest.approx(sum(drops) / len(drops), rel=1e-12)
    assert checks["margin"]["mean_drop"] > 0


def test_discopop_from_the_registry_passes():
    lrml = get_objective("discopop", beta=0.05)
    report = validate(lambda batch, beta: lrml(batch).per_example, beta=0.05, seed=0)
    assert report["ok"] and report["checks"]["margin"]["shift"] == pytest.approx(10.0)


def test_random_pairs_are_pairs_with_the_stated_spread():
    b = random_pairs(4096, seed=0, beta=0.1)
    assert tuple(b.policy_logps.shape) == (4096, 2) and b.mask.all()
    assert (b.lengths >= 1).all() and (b.lengths <= 40).all()
    ratio = b.policy_logps - b.ref_logps
    assert ratio.std().item() * 0.1 == pytest.approx(math.sqrt(2.0), rel=0.05)
    assert torch.equal(random_pairs(8, seed=1).policy_logps, random_pairs(8, seed=1).policy_logps)


@pytest.mark.parametrize("loss, check, words", [
    (lambda b, beta: dpo(b, beta).mean(), "shape", "returned a scalar (shape ())"),
    (lambda b, beta: torch.stack([dpo(b, beta), dpo(b, beta)], 1), "shape", "returned shape (1, 2) for a batch of 1"),
    (lambda b, beta: dpo(b, beta)[:1], "shape", "returned shape (1,) for a batch of 2"),
    (lambda b, beta: 0.5, "tensor", "returned float, not a torch tensor"),
    (lambda b, beta: (margin(b) > 0).long(), "tensor", "torch.int64"),
    (lambda b, beta: dpo(b, beta) * float("nan"), "finite", "loss nan at example 0 of a batch of 1"),
    (lambda b, beta: torch.log(margin(b)), "finite", "guard logs"),
    (lambda b, beta: F.softplus(beta * margin(b)), "margin", "changed the mean loss by +"),
    (lambda b, beta: -F.logsigmoid(beta * margin(b)).detach(), "gradient", "does not depend on batch.policy_logps"),
    (lambda b, beta: F.softplus(-beta * margin(b)) + torch.sqrt(margin(b) - margin(b)), "gradient", "is not finite"),
    (lambda b, beta: b.ref_logps[:, 0] * 0 + b.policy_logps[:, 0] * 0, "gradient", "zero everywhere"),
    (lambda b, beta: F.softplus(-beta * margin(b)) + 1e-3 * torch.rand(b.B, dtype=b.policy_logps.dtype), "pure",
     "different losses"),
])
def test_broken_losses_fail_naming_the_check(loss, check, words):
    with pytest.raises(CandidateInvalid) as info:
        validate(loss, beta=0.1, seed=0)
    assert info.value.check == check
    assert str(info.value).startswith(f"{check}: ")
    assert words in str(info.value), str(info.value)


def test_in_place_edit_of_the_batch_is_caught():
    def sneaky(batch, beta):
        losses = F.softplus(-beta * margin(batch))
        if not batch.policy_logps.requires_grad:      # only where no autograd would complain
            batch.lengths.add_(1)
        return losses

    with pytest.raises(CandidateInvalid, match=r"^pure: the loss changed batch.lengths in place"):
        validate(sneaky, beta=0.1)


def test_bad_beta_is_a_value_error():
    with pytest.raises(ValueError, match="beta must be a finite number > 0, got 0"):
        validate(dpo, beta=0)
