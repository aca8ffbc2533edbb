"""Trainer: objectives learn, metrics and checkpoints, best-model selection (Sec. 4.1, Alg. 1)."""

import json
from dataclasses import replace

import pytest
import torch

import enresnet
from enresnet.checkpoint import load_model
from enresnet.data import load_dataset
from enresnet.train import Trainer, learning_rate, load_training_data, train
from enresnet.train.validation import Validator

from helpers import tiny_config


def test_learning_rate_schedule_matches_paper():
    lrs = [learning_rate(0.1, e, [80, 120, 160], 0.1) for e in (0, 79, 80, 119, 120, 160, 199)]
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.0001, 0.0001])


def test_natural_training_reaches_high_accuracy(tmp_path):
    config = tiny_config(
        model={"name": "en1_resnet8"},
        data={"options": {"num_samples": 640, "size": 16, "noise": 0.15}},
        train={"epochs": 6, "lr": 0.1, "milestones": [5]},
    )
    metrics = train(config, tmp_path / "run", quiet=True)
    assert [m["epoch"] for m in metrics] == list(range(1, 7))
    assert metrics[-1]["train_acc"] > 0.9
    assert max(m["val_nat_acc"] for m in metrics) > 0.9


@pytest.mark.parametrize("method", ["pgd", "trades"])
def test_adversarial_training_loss_falls(tmp_path, method):
    config = tiny_config(
        data={"options": {"num_samples": 320, "size": 16, "noise": 0.15}},
        train={"method": method, "epochs": 5, "lr": 0.1},
    )
    metrics = train(config, tmp_path / "run", quiet=True)
    losses = [m["train_loss"] for m in metrics]
    assert losses[-1] < 0.85 * losses[0]
    for m in metrics:  # accuracies are counts over the 64 validation images, and the attack lowers them
        for key in ("val_nat_acc", "val_rob_acc"):
            assert abs(m[key] * 64 - round(m[key] * 64)) < 1e-6, (key, m[key])
    assert sum(m["val_rob_acc"] for m in metrics) < sum(m["val_nat_acc"] for m in metrics)


def test_run_directory_layout_and_metrics(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(), run, quiet=True)
    assert {p.name for p in run.iterdir()} >= {"config.toml", "config.json", "metrics.jsonl", "last.safetensors",
                                               "best.safetensors"}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert set(rows[0]) >= {"epoch", "train_loss", "train_acc", "val_nat_acc", "val_rob_acc", "lr", "seconds"}
    assert json.loads((run / "config.json").read_text())["model"]["name"] == "en2_resnet8"


def test_best_checkpoint_accuracy_equals_logged_validation_accuracy(tmp_path):
    config = tiny_config(train={"epochs": 3})
    run = tmp_path / "run"
    metrics = train(config, run, quiet=True)
    model = load_model(run / "best")
    meta = model.checkpoint_meta
    logged = meta["metrics"]["val_nat_acc"]
    assert logged == max(m["val_nat_acc"] for m in metrics)
    _, val = load_training_data(config)
    seed = config.train.seed * 1000 + meta["epoch"]
    nat, _ = Validator(model, config.validation.batch_size)(val, seed)
    assert nat == logged
    # averaged over noise draws, the accuracy is close to the logged single draw
    draws = [Validator(model, 64)(val, s)[0] for s in range(5)]
    assert abs(sum(draws) / 5 - logged) < 0.15


def test_robust_selection_keeps_best_robust_epoch(tmp_path):
    metrics = train(tiny_config(train={"method": "pgd", "epochs": 3}), tmp_path / "run", quiet=True)
    meta = load_model(tmp_path / "run" / "best").checkpoint_meta
    assert meta["metrics"]["val_rob_acc"] == max(m["val_rob_acc"] for m in metrics)


def test_weighted_ensemble_weights_are_learned_and_logged(tmp_path):
    config = tiny_config(model={"name": "en1_resnet8+en1_resnet14"}, train={"epochs": 2, "ensemble_weight_lr": 0.05})
    metrics = train(config, tmp_path / "run", quiet=True)
    weights = [m["ensemble_weights"] for m in metrics]
    assert all(len(w) == 2 and abs(sum(w) - 1) < 1e-6 and min(w) >= 0 for w in weights)
    assert weights[0] != [0.5, 0.5]
    model = load_model(tmp_path / "run" / "last")
    assert model.weights.tolist() == pytest.approx(weights[-1])


def test_integrate_command_averages_runs(tmp_path):
    from enresnet.cli import main

    for name in ("a", "b"):
        train(tiny_config(train={"epochs": 1}), tmp_path / name, quiet=True)
    out = tmp_path / "merged.safetensors"
    assert main(["integrate", str(tmp_path / "a" / "best"), str(tmp_path / "b" / "best"), "--out", str(out)]) == 0
    merged = load_model(out)
    parts = [load_model(tmp_path / n / "best") for n in ("a", "b")]
    x = load_dataset("synthetic", num_samples=8, size=16).images.float() / 255
    with torch.no_grad(), enresnet.noise_disabled(merged):
        for p in parts:
            enresnet.set_noise(p, False)
        assert torch.allclose(merged(x), (parts[0](x) + parts[1](x)) / 2, atol=1e-5)


def test_trainer_refuses_to_overwrite_a_run(tmp_path):
    train(tiny_config(train={"epochs": 1}), tmp_path / "run", quiet=True)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").iterdir()}
    with pytest.raises(enresnet.errors.ConfigError, match="--resume"):
        Trainer(tiny_config(train={"epochs": 1, "lr": 0.2}), tmp_path / "run").fit()
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").iterdir()} == before


def test_trainer_construction_and_public_step_write_nothing(tmp_path):
    config = tiny_config(train={"method": "pgd", "epochs": 1})
    trainer = Trainer(config, tmp_path / "run")
    no_dir = Trainer(config)  # no run directory at all: usable for steps
    x = torch.rand(config.train.batch_size, 3, 16, 16)
    y = torch.randint(0, 10, (len(x),))
    before = [p.detach().clone() for p in no_dir.model.parameters()]
    loss = no_dir.train_step(x, y)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, no_dir.model.parameters()))
    assert no_dir.sums.read().count == len(y)
    assert not (tmp_path / "run").exists()
    trainer.fit()
    assert (tmp_path / "run" / "last.safetensors").is_file()


def test_speed_defaults_by_device():
    from enresnet.device import native_bf16
    from enresnet.errors import ConfigError
    from enresnet.train.speed import resolve_speed_options

    auto = tiny_config(train={"amp": "auto", "channels_last": "auto", "capture": "auto"}).train
    cpu = resolve_speed_options(auto, torch.device("cpu"), distributed=False)
    assert cpu.channels_last and not cpu.capture and cpu.bf16 == native_bf16(torch.device("cpu"))
    cuda = resolve_speed_options(auto, torch.device("cuda"), distributed=False)
    assert cuda.bf16 and cuda.channels_last and cuda.capture
    assert not resolve_speed_options(auto, torch.device("cuda"), distributed=True).capture
    pinned = replace(auto, amp="none", channels_last=False, capture=False)
    expected = type(cpu)(False, False, False, False)
    assert resolve_speed_options(pinned, torch.device("cuda"), distributed=False) == expected
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        resolve_speed_options(replace(auto, capture=True), torch.device("cpu"), distributed=False)


def test_fast_path_options_train_and_match_the_default_closely(tmp_path):
    """bf16 autocast and channels_last change the arithmetic, not the algorithm."""
    base = tiny_config(model={"name": "en1_resnet8", "noise_coef": 0.0}, train={"epochs": 1})
    fast = tiny_config(model={"name": "en1_resnet8", "noise_coef": 0.0},
                       train={"epochs": 1, "amp": "bf16", "channels_last": True})
    plain = train(base, tmp_path / "plain", quiet=True)
    quick = train(fast, tmp_path / "fast", quiet=True)
    assert plain[0]["train_loss"] != quick[0]["train_loss"]  # bf16 really ran
    assert abs(plain[0]["train_loss"] - quick[0]["train_loss"]) < 0.05 * plain[0]["train_loss"]
    a = load_model(tmp_path / "plain" / "last")
    b = load_model(tmp_path / "fast" / "last")
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=0.05), name
