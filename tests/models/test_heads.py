import pytest
import torch

from preflab.models import AdditiveMaskDecoder, ModelError, add_lora, decoder_and_head, tiny_gpt2, tiny_llama

from .packing import packed_row, separate_hidden

IDS = torch.tensor([[3, 141, 59, 26, 5, 35, 89, 79], [2, 71, 82, 81, 82, 84, 59, 4]])
MASK = torch.tensor([[1] * 8, [0, 0, 1, 1, 1, 1, 1, 1]])  # left padding in row 2


def _head_equals_logits(model, ids=IDS, attention_mask=None, atol=1e-5):
    decoder, weight = decoder_and_head(model)
    with torch.no_grad():
        hidden = decoder(input_ids=ids, attention_mask=attention_mask, use_cache=False)[0]
        logits = model(input_ids=ids, attention_mask=attention_mask, use_cache=False).logits
    diff = (hidden @ weight.T - logits).abs().max().item()
    assert diff <= atol, diff
    return decoder, weight


@pytest.mark.parametrize("tie", [True, False])
def test_tiny_llama(tie):
    model = tiny_llama(tie_word_embeddings=tie).eval()
    decoder, weight = _head_equals_logits(model)
    _head_equals_logits(model, attention_mask=MASK)
    assert decoder is model.model and weight is model.lm_head.weight


def test_tiny_gpt2():
    model = tiny_gpt2().eval()
    decoder, weight = _head_equals_logits(model)
    _head_equals_logits(model, attention_mask=MASK)
    assert decoder is model.transformer and weight is model.transformer.wte.weight


def test_lora_wrapped_llama_runs_the_adapters():
    policy = add_lora(tiny_llama())
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.fill_(0.1)
    decoder, weight = _head_equals_logits(policy)
    assert decoder is policy.get_base_model().model
    base = tiny_llama()
    with torch.no_grad():
        assert (decoder(input_ids=IDS)[0] - base.model(input_ids=IDS)[0]).abs().max() > 1e-3


def test_gradients_flow_through_decoder_and_head():
    model = tiny_llama()
    decoder, weight = decoder_and_head(model)
    (decoder(input_ids=IDS)[0] @ weight.T).logsumexp(-1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_refuses_a_head_with_bias():
    model = tiny_llama(tie_word_embeddings=False)
    model.lm_head = torch.nn.Linear(64, 256, bias=True)
    with pytest.raises(ModelError, match="bias"):
        decoder_and_head(model)


@pytest.mark.parametrize("field,value", [("final_logit_softcapping", 30.0), ("logit_scale", 0.0625),
                                         ("logits_scaling", 4.0)])
def test_refuses_logit_transforms(field, value):
    model = tiny_llama()
    setattr(model.config, field, value)
    with pytest.raises(ModelError, match=field):
        decoder_and_head(model)


def test_scale_of_one_is_fine_and_lora_on_the_head_is_refused():
    model = tiny_llama(tie_word_embeddings=False)
    model.config.logits_scaling = 1.0
    decoder_and_head(model)
    policy = add_lora(model, target_modules=["q_proj", "lm_head"])
    with pytest.raises(ModelError, match="not a plain nn.Linear"):
        decoder_and_head(policy)


def test_refuses_a_bare_decoder():
    with pytest.raises(ModelError, match="output embedding"):
        decoder_and_head(tiny_llama().model)


# --- packed rows: a 4D boolean mask plus position_ids through the decoder ------------------------------------


@pytest.mark.parametrize("build", [tiny_llama, tiny_gpt2], ids=["llama", "gpt2"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_row_equals_separate_sequences(build, attn):
    model = build(seed=3, attn_implementation=attn).eval()
    decoder, weight = decoder_and_head(model)
    assert isinstance(decoder, AdditiveMaskDecoder) == (attn == "eager")
    ids, positions, mask, _ = packed_row()
    with torch.no_grad():
        packed = decoder(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False)[0][0]
        alone = separate_hidden(decoder)
    assert (packed - alone).abs().max().item() <= 1e-5


@pytest.mark.parametrize("build", [tiny_llama, tiny_gpt2], ids=["llama", "gpt2"])
def test_packed_row_is_wrong_without_the_mask_or_positions(build):
    """The test above has teeth: dropping either the mask or the positions changes the completions."""
    decoder, _ = decoder_and_head(build(seed=3).eval())
    ids, positions, mask, seg = packed_row()
    with torch.no_grad():
        alone = separate_hidden(decoder)
        no_mask = decoder(input_ids=ids, position_ids=positions)[0][0]
        no_positions = decoder(input_ids=ids, attention_mask=mask)[0][0]
    second = seg == 2
    assert (no_mask[second] - alone[second]).abs().max() > 1e-3
    assert (no_positions[second] - alone[second]).abs().max() > 1e-3


def test_eager_attention_misreads_a_boolean_mask_which_the_wrapper_fixes():
    model = tiny_llama(seed=3, attn_implementation="eager").eval()
    ids, positions, mask, _ = packed_row()
    with torch.no_grad():
        alone = separate_hidden(model.model)
        raw = model.model(input_ids=ids, attention_mask=mask, position_ids=positions)[0][0]
        wrapped = decoder_and_head(model)[0](input_ids=ids, attention_mask=mask, position_ids=positions)[0][0]
    assert (raw - alone).abs().max() > 1e-2  # transformers adds the booleans as 0/1: silently wrong
    assert (wrapped - alone).abs().max() <= 1e-5


def test_packed_row_with_lora_and_bfloat16():
    policy = add_lora(tiny_llama(seed=3))
    decoder, _ = decoder_and_head(policy)
    ids, positions, mask, _ = packed_row()
    with torch.no_grad():
        assert (decoder(input_ids=ids, attention_mask=mask, position_ids=positions)[0][0]
                - separate_hidden(decoder)).abs().max() <= 1e-5
    half = tiny_llama(seed=3, dtype="bfloat16", attn_implementation="eager")
    decoder, _ = decoder_and_head(half)
    with torch.no_grad():
        diff = (decoder(input_ids=ids, attention_mask=mask, position_ids=positions)[0][0]
                - separate_hidden(decoder)).abs().max().item()
    assert diff <= 0.05  # bfloat16 rounding only, not a misread mask (that gives ~1)


def test_other_attention_implementations_refuse_a_4d_mask():
    model = tiny_llama()
    wrapped = AdditiveMaskDecoder(model.model, "flash_attention_2")
    ids, positions, mask, _ = packed_row()
    with pytest.raises(ModelError, match="set_attn_implementation\\('sdpa'\\)"):
        wrapped(input_ids=ids, attention_mask=mask, position_ids=positions)
    with torch.no_grad():  # 2D masks and no mask pass straight through
        assert torch.equal(wrapped(input_ids=ids)[0], model.model(input_ids=ids)[0])
