import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test here runs on one torch thread (tests/conftest.py says why)."""
    yield


@pytest.fixture(scope="session")
def smol_tokenizer():
    from preflab.models import load_tokenizer

    return load_tokenizer("smollm2")


@pytest.fixture(scope="session")
def tiny_lm(smol_tokenizer):
    """A seeded 2-layer Llama over SmolLM2's tokenizer and chat template (random weights: fast, deterministic)."""
    from preflab.models import tiny_llama
    from preflab.serve.local_model import LocalModel

    return LocalModel(tiny_llama(vocab_size=len(smol_tokenizer), seed=0), smol_tokenizer, name="tiny")
