import pytest
import torch

from preflab.models import ModelError, adapter_disabled, add_lora, frozen_copy, tiny_gpt2, tiny_llama

IDS = torch.tensor([[4, 8, 15, 16, 23, 42]])


def _logits(model):
    with torch.no_grad():
        return model(input_ids=IDS).logits


def _perturb_lora(policy, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.5)


def test_frozen_copy_is_frozen_in_eval_mode_and_independent():
    model = tiny_llama()
    model.train()
    model(input_ids=IDS).logits.sum().backward()
    ref = frozen_copy(model)
    assert not ref.training and model.training
    assert not any(p.requires_grad for p in ref.parameters())
    assert all(p.grad is None for p in ref.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert ref.lm_head.weight is ref.model.embed_tokens.weight  # tying survives the copy
    ours = {p.data_ptr() for p in model.parameters()}
    assert not any(p.data_ptr() in ours for p in ref.parameters())
    before = _logits(ref)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert torch.equal(_logits(ref), before)
    assert not torch.allclose(_logits(model), before)


def test_frozen_copy_of_gpt2_gives_same_outputs():
    model = tiny_gpt2().eval()
    assert torch.equal(_logits(frozen_copy(model)), _logits(model))


@pytest.mark.parametrize("build", [tiny_llama, tiny_gpt2])
def test_adapter_disabled_gives_the_base_model(build):
    base_logits = _logits(build(seed=1))
    policy = add_lora(build(seed=1))
    _perturb_lora(policy)
    adapted = _logits(policy)
    assert (adapted - base_logits).abs().max() > 1e-2  # the adapters matter
    with adapter_disabled(policy) as inner:
        assert inner is policy
        assert torch.equal(_logits(policy), base_logits)
    assert torch.equal(_logits(policy), adapted)  # back on afterwards


def test_adapter_disabled_restores_adapters_after_an_error():
    policy = add_lora(tiny_llama())
    _perturb_lora(policy)
    adapted = _logits(policy)
    with pytest.raises(RuntimeError):
        with adapter_disabled(policy):
            raise RuntimeError("boom")
    assert torch.equal(_logits(policy), adapted)


def test_adapter_disabled_refuses_a_model_without_adapters():
    with pytest.raises(ModelError, match="frozen_copy"):
        with adapter_disabled(tiny_llama()):
            pass


def test_gradients_reach_only_the_adapter():
    policy = add_lora(tiny_llama())
    policy(input_ids=IDS).logits.sum().backward()
    with_grad = {n for n, p in policy.named_parameters() if p.grad is not None}
    assert with_grad and all("lora_" in n for n in with_grad)
