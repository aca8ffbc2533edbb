"""Shared test helpers: tiny configs on the synthetic task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from enresnet.config import to_toml, validate
from enresnet.data import load_dataset, to_float
from enresnet.models import NoiseInjection


def tiny_config(**sections: dict[str, Any]) -> dict[str, Any]:
    """A validated config for a tiny run on synthetic 16x16 images; ``sections`` override.

    fp32 in NCHW (``train.amp = "none"``, ``channels_last = false``): the tests check the
    paper's arithmetic against references computed that way; the device defaults are
    tested on their own.
    """
    raw: dict[str, dict[str, Any]] = {
        "model": {"name": "en2_resnet8"},
        "data": {"name": "synthetic", "val_size": 64, "options": {"num_samples": 320, "size": 16, "noise": 0.2}},
        "train": {"method": "natural", "epochs": 2, "batch_size": 32, "lr": 0.05, "milestones": [100],
                  "amp": "none", "channels_last": False},
        "attack": {"eps": 0.03, "alpha": 0.01, "steps": 2},
        "validation": {"batch_size": 64, "attack_steps": 2},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return validate(raw)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(to_toml(config))
    return path


def trained_linear(noise_coef: float = 0.0) -> nn.Module:
    """A linear classifier of the 8x8 synthetic task, trained full-batch (~0.1 s), with noise of
    ``noise_coef`` on its logits (none for 0)."""
    torch.manual_seed(0)
    train = load_dataset("synthetic", train=True, num_samples=512, num_classes=10, channels=3, size=8, noise=0.3)
    layers = [nn.Flatten(), nn.Linear(3 * 8 * 8, 10)] + ([NoiseInjection(noise_coef)] if noise_coef else [])
    net = nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    x, y = to_float(train.images), train.labels
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()
