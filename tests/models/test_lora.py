import pytest
import torch

from preflab.models import ModelError, add_lora, default_target_modules, tiny_gpt2, tiny_llama


def _trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_llama_targets_qkvo_with_expected_trainable_count():
    policy = add_lora(tiny_llama(), r=8)
    # per layer: q (64 in, 64 out), k and v (64 in, 32 out: 2 kv heads of 16), o (64, 64): r * (in + out)
    assert _trainable(policy) == 2 * 8 * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64)) == 7168
    names = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in policy.named_parameters() if "lora_A" in n}
    assert names == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert all(("lora_" in n) == p.requires_grad for n, p in policy.named_parameters())


def test_gpt2_targets_attention_only():
    policy = add_lora(tiny_gpt2(), r=4)
    # per layer: c_attn (64 in, 192 out) and the attention's c_proj (64, 64); the MLP's c_proj stays bare
    assert _trainable(policy) == 2 * 4 * ((64 + 192) + (64 + 64)) == 3072
    adapted = sorted({n.split(".lora_A")[0] for n, _ in policy.named_parameters() if "lora_A" in n})
    assert all(".attn." in n for n in adapted) and len(adapted) == 4


def test_explicit_targets_rank_and_scale():
    policy = add_lora(tiny_llama(), r=2, alpha=8, target_modules=["q_proj"])
    assert _trainable(policy) == 2 * 2 * (64 + 64)
    layer = policy.base_model.model.model.layers[0].self_attn.q_proj
    assert layer.scaling["default"] == 8 / 2


def test_starts_as_the_base_model_and_is_seeded():
    ids = torch.tensor([[1, 2, 3, 4]])
    base = tiny_llama(seed=3)
    with torch.no_grad():
        expected = base(input_ids=ids).logits
    policy = add_lora(base, seed=7)
    with torch.no_grad():
        assert torch.equal(policy(input_ids=ids).logits, expected)
    again = add_lora(tiny_llama(seed=3), seed=7)
    other = add_lora(tiny_llama(seed=3), seed=8)
    a = dict(policy.named_parameters())
    assert all(torch.equal(p, a[n]) for n, p in again.named_parameters())
    assert not all(torch.equal(p, a[n]) for n, p in other.named_parameters() if "lora_A" in n)


def test_dropout_and_errors():
    policy = add_lora(tiny_llama(), dropout=0.1)
    assert policy.peft_config["default"].lora_dropout == 0.1
    with pytest.raises(ModelError, match="already a PeftModel"):
        add_lora(policy)
    with pytest.raises(ModelError, match="positive integer"):
        add_lora(tiny_llama(), r=0)


def test_unknown_architecture_names_its_linear_layers():
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mixer = torch.nn.Linear(4, 4)

    with pytest.raises(ModelError, match=r"target_modules=\[\.\.\.\].*\['mixer'\]"):
        default_target_modules(Odd())
