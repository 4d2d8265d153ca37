import os

# transformers and TRL try the network unless told not to; tests never download anything.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread (the caller's setting is restored): tiny models run fastest so, and on the
    busy 2-core machine two OpenMP threads waiting on each other make each op far slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
