import pytest
import torch

# Tests use tiny models: one intra-op thread is as fast, and immune to the
# slowdown of oversubscribed OpenMP threads when other processes share the cores.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
