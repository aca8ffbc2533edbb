"""The vectorised En_n member forward (``Ensemble(vectorize=True)``) against the member loop."""

import copy

import pytest
import torch

from enresnet.models import Ensemble, create_model, noise_disabled
from enresnet.models import ensemble as ensemble_module


@pytest.fixture
def vmapped_calls(monkeypatch):
    """How many times the vectorised path ran (so that a silent fallback to the loop fails a test)."""
    calls = []
    original = ensemble_module.stacked_member_logits

    def counting(members, x):
        calls.append(len(members))
        return original(members, x)

    monkeypatch.setattr(ensemble_module, "stacked_member_logits", counting)
    return calls


def twins(name: str) -> tuple[Ensemble, Ensemble]:
    """The same ensemble twice: looped and vectorised."""
    loop = create_model(name, num_classes=5)
    fast = copy.deepcopy(loop)
    fast.vectorize = True
    return loop, fast


def rounding_close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float32 rounding, relative to the tensor's scale."""
    return bool((a - b).abs().max() <= 1e-5 * b.abs().max())


@pytest.mark.parametrize("name", ["en2_resnet8", "en5_resnet8"])
@pytest.mark.parametrize("train", [False, True])
def test_equal_to_loop_without_noise(name, train, vmapped_calls):
    loop, fast = twins(name)
    loop.train(train)
    fast.train(train)
    x = torch.rand(6, 3, 12, 12)
    x_loop, x_fast = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with noise_disabled(loop), noise_disabled(fast):
        out_loop, out_fast = loop.member_logits(x_loop), fast.member_logits(x_fast)
        assert out_fast.shape == (len(loop), 6, 5)
        assert torch.equal(out_loop, out_fast)
        assert torch.equal(loop(x), fast(x))
        assert len(vmapped_calls) == 2
        weights = torch.randn_like(out_loop)
        (out_loop * weights).sum().backward()
        (out_fast * weights).sum().backward()
    # gradients go through grouped-convolution kernels and sum the members in another order
    assert rounding_close(x_fast.grad, x_loop.grad)
    for (name_a, a), (name_b, b) in zip(loop.named_parameters(), fast.named_parameters()):
        assert name_a == name_b and b.grad is not None and rounding_close(b.grad, a.grad), name_a
    # train mode: every member's BatchNorm running statistics updated as by the loop
    for (name_a, a), (_, b) in zip(loop.named_buffers(), fast.named_buffers()):
        assert torch.equal(a, b), name_a


def test_noise_has_the_loops_distribution_per_member(vmapped_calls):
    torch.manual_seed(0)
    loop, fast = twins("en2_resnet8")
    with torch.no_grad():  # member 1's blocks output 20x larger values: its std must not leak into member 0
        fast.members[1].conv1.weight.mul_(20)
        loop.members[1].conv1.weight.mul_(20)
    loop.eval()
    fast.eval()
    x = torch.rand(4, 3, 12, 12)
    with torch.no_grad():
        draws_loop = torch.stack([loop.member_logits(x) for _ in range(200)])
        draws_fast = torch.stack([fast.member_logits(x) for _ in range(200)])
        with noise_disabled(loop):
            clean = loop.member_logits(x)
    assert len(vmapped_calls) == 200
    assert not torch.equal(draws_fast[0], draws_fast[1])  # a fresh draw at every call
    for member in range(2):
        spread_loop = draws_loop[:, member].std(0).mean()
        spread_fast = draws_fast[:, member].std(0).mean()
        assert 0.85 < spread_fast / spread_loop < 1.15, member
        scale = clean[member].abs().mean()
        assert (draws_fast[:, member].mean(0) - draws_loop[:, member].mean(0)).abs().mean() < 0.05 * scale


def test_loop_runs_while_members_differ_at_runtime(vmapped_calls):
    loop, fast = twins("en2_resnet8")
    x = torch.rand(2, 3, 12, 12)
    fast.members[0].eval()
    loop.members[0].eval()
    with noise_disabled(loop), noise_disabled(fast):
        assert torch.equal(loop.member_logits(x), fast.member_logits(x))
    assert vmapped_calls == []


def test_different_members_cannot_be_vectorised():
    model = create_model("en1_resnet8+en1_resnet14")
    with pytest.raises(ValueError, match="member 1 differs"):
        model.vectorize = True
    assert not model.vectorize
    assert "vectorize=False" in repr(model)
