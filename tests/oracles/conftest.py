import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The tiny models here run fastest on one thread, and far faster than on two when the 2-core machine is
    busy (OpenMP threads wait on each other); the caller's setting is restored after each test."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
