"""Shared test helpers: tiny configs on the synthetic task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from enresnet.config import to_toml, validate


def tiny_config(**sections: dict[str, Any]) -> dict[str, Any]:
    """A validated config for a tiny run on synthetic 16x16 images; ``sections`` override."""
    raw: dict[str, dict[str, Any]] = {
        "model": {"name": "en2_resnet8"},
        "data": {"name": "synthetic", "val_size": 64, "options": {"num_samples": 320, "size": 16, "noise": 0.2}},
        "train": {"method": "natural", "epochs": 2, "batch_size": 32, "lr": 0.05, "milestones": [100]},
        "attack": {"eps": 0.03, "alpha": 0.01, "steps": 2},
        "validation": {"batch_size": 64, "attack_steps": 2},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return validate(raw)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(to_toml(config))
    return path
