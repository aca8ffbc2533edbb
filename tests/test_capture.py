"""CUDA-graph capture of the training step (train.capture): CUDA only, skipped on a CPU.

Run on a GPU machine by ``benchmarks/gpu_check.py`` (and by pytest wherever CUDA exists).
"""

import pytest
import torch

from enresnet.checkpoint import load_model
from enresnet.models import create_model, noise_disabled
from enresnet.train import Trainer
from enresnet.train.capture import GraphedFunction

from helpers import tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")


def cuda_config(noise_coef=0.0, **train):
    return tiny_config(
        model={"name": "en2_resnet8", "noise_coef": noise_coef},
        train={"method": "pgd", "device": "cuda", "epochs": 1, **train},
        attack={"eps": 0.03, "alpha": 0.01, "steps": 3, "random_start": False},
    )


@pytest.fixture
def deterministic_kernels():
    """Deterministic cuDNN kernels: a sign-gradient attack turns any rounding difference into a step of alpha."""
    flags = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    yield
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_captured_steps_equal_eager_steps_without_noise(amp, deterministic_kernels):
    captured = Trainer(cuda_config(amp=amp, capture=True))
    eager = Trainer(cuda_config(amp=amp, capture=False))
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    for (name, a), b in zip(captured.model.state_dict().items(), eager.model.state_dict().values()):
        assert torch.equal(a, b), name  # same seed, same initial weights
    torch.manual_seed(0)
    batches = [(torch.rand(32, 3, 16, 16, device="cuda"), torch.randint(0, 10, (32,), device="cuda")) for _ in range(7)]
    for x, y in batches:
        captured.train_step(x, y)
        eager.train_step(x, y)
    assert captured.graphed_step.captures == 1
    tol = 1e-5 if amp == "none" else 1e-3
    for (name, a), b in zip(captured.model.state_dict().items(), eager.model.state_dict().values()):
        assert (a.double() - b.double()).abs().max() <= tol, name
    sums_a, sums_b = captured.sums.read(), eager.sums.read()
    assert sums_a.count == sums_b.count == 7 * 32
    assert abs(sums_a.loss - sums_b.loss) <= 1e-3 * sums_b.loss


def test_replays_draw_fresh_noise_and_random_starts():
    model = create_model("en2_resnet8", num_classes=5).cuda().eval()
    x = torch.rand(4, 3, 16, 16, device="cuda")

    def noisy_forward(images):
        with torch.no_grad():
            return model(images) + 0 * images.uniform_().sum()

    graphed = GraphedFunction(noisy_forward, warmup=1)
    graphed(x.clone())
    draws = [graphed(x.clone()).clone() for _ in range(3)]
    assert graphed.captures == 1
    assert not torch.equal(draws[0], draws[1]) and not torch.equal(draws[1], draws[2])
    with noise_disabled(model):
        clean = model(x)
    spread = torch.stack(draws).std(0).mean()
    assert 0 < spread < clean.abs().mean()  # noise of the model's own scale, not garbage


def test_a_new_learning_rate_records_the_step_again():
    trainer = Trainer(cuda_config(capture=True))
    x, y = torch.rand(32, 3, 16, 16, device="cuda"), torch.randint(0, 10, (32,), device="cuda")
    for _ in range(5):
        trainer.train_step(x, y)
    assert trainer.graphed_step.captures == 1
    for group in trainer.optimizer.param_groups:
        group["lr"] = 0.01
    for _ in range(5):
        trainer.train_step(x, y)
    assert trainer.graphed_step.captures == 2
    trainer.train_step(x[:7], y[:7])  # a partial batch runs eagerly
    assert trainer.graphed_step.captures == 2 and trainer.sums.read().count == 10 * 32 + 7


def test_a_captured_run_checkpoints_and_reloads(tmp_path):
    config = cuda_config(noise_coef=0.1, capture=True, epochs=2)
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    metrics = trainer.fit()
    assert len(metrics) == 2 and trainer.graphed_step.captures >= 1
    assert all(m["train_loss"] == m["train_loss"] for m in metrics)  # finite, read back once per epoch
    reloaded = load_model(tmp_path / "run" / "last", device="cuda").eval()
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key
    trainer.model.eval()
    x = torch.rand(8, 3, 16, 16, device="cuda")
    with torch.no_grad(), noise_disabled(reloaded), noise_disabled(trainer.model):  # NCHW vs NHWC kernels
        assert torch.allclose(reloaded(x), trainer.model(x), atol=1e-3)
