import torch

from preflab.models import CONFIG_A, llama_config_a, tiny_gpt2, tiny_llama


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_other_seed_other_weights():
    for build in (tiny_llama, tiny_gpt2):
        a, b, c = _state(build(seed=0)), _state(build(seed=0)), _state(build(seed=1))
        assert _same(a, b)
        assert not any(torch.equal(a[k], c[k]) for k in a if a[k].dim() == 2)


def test_building_leaves_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_llama(seed=5)
    tiny_gpt2(seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_default_shapes_and_parameter_counts():
    llama = tiny_llama()
    # embeddings 256*64 (tied) + 2 layers * (q 64*64 + k,v 64*32 each + o 64*64 + mlp 3*64*128 + 2 norms) + norm
    per_layer = 4096 + 2048 * 2 + 4096 + 3 * 64 * 128 + 128
    assert sum(p.numel() for p in llama.parameters()) == 256 * 64 + 2 * per_layer + 64
    assert llama.lm_head.weight is llama.model.embed_tokens.weight
    assert llama.config.num_key_value_heads == 2
    gpt2 = tiny_gpt2()
    assert gpt2.lm_head.weight is gpt2.transformer.wte.weight
    assert gpt2.config.n_inner is None and gpt2.config.eos_token_id == 255
    assert gpt2.config.attn_pdrop == gpt2.config.resid_pdrop == gpt2.config.embd_pdrop == 0.0


def test_untied_and_custom_sizes():
    model = tiny_llama(vocab_size=32, hidden_size=16, intermediate_size=24, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False)
    assert model.lm_head.weight is not model.model.embed_tokens.weight
    assert tuple(model.lm_head.weight.shape) == (32, 16)
    assert len(model.model.layers) == 1
    logits = model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert tuple(logits.shape) == (1, 3, 32)


def test_dtype_is_the_float32_model_rounded_and_attention_is_sdpa():
    full, half = tiny_llama(seed=2), tiny_llama(seed=2, dtype="bfloat16")
    assert half.dtype == torch.bfloat16 and full.dtype == torch.float32
    assert torch.equal(half.model.embed_tokens.weight, full.model.embed_tokens.weight.to(torch.bfloat16))
    assert full.config._attn_implementation == "sdpa" and tiny_gpt2().config._attn_implementation == "sdpa"
    assert tiny_llama(attn_implementation="eager").config._attn_implementation == "eager"


def test_deterministic_forward():
    ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    for build in (tiny_llama, tiny_gpt2):
        with torch.no_grad():
            assert torch.equal(build(seed=4)(input_ids=ids).logits, build(seed=4)(input_ids=ids).logits)


def test_config_a():
    model = llama_config_a(seed=0)
    c = model.config
    assert (c.vocab_size, c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.num_attention_heads) == (
        49152, 256, 1024, 4, 4)
    assert c.tie_word_embeddings and model.lm_head.weight is model.model.embed_tokens.weight
    assert sum(p.numel() for p in model.parameters()) == 49152 * 256 + 4 * (4 * 256 * 256 + 3 * 256 * 1024 + 512) + 256
    assert dict(CONFIG_A)["vocab_size"] == 49152
    assert llama_config_a(num_hidden_layers=1).config.num_hidden_layers == 1
