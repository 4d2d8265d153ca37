from pathlib import Path

import pytest

from .toy import toy_tokenizer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def tok():
    return toy_tokenizer()


@pytest.fixture
def cache(tmp_path):
    """A fresh cache folder per test (it also holds datasets' copies of the files it reads)."""
    return tmp_path / "cache"


def fixture(name: str) -> Path:
    return FIXTURES / name
