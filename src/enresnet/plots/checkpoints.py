"""Models for the figure drivers: loaded from checkpoints, labelled, and asked for labels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..attacks import model_mode
from ..checkpoint import load_model
from ..data import ImageDataset
from ..evaluate.inputs import check_compatible, evaluation_data, model_label


def load_labelled_models(
    checkpoints: Sequence[str | Path], dataset: str, data_dir: str | None, limit: int | None = None
) -> tuple[dict[str, nn.Module], ImageDataset]:
    """({model label: model}, the test split of ``dataset``) for the checkpoints.

    Labels are the models' names (``en5_resnet20``); a repeated name gets its file name
    appended. Every model must fit the data (classes, channels).
    """
    if not checkpoints:
        raise ValueError("no checkpoints given")
    models = [load_model(p) for p in checkpoints]
    data = evaluation_data(models[0], dataset, data_dir, limit)
    labelled: dict[str, nn.Module] = {}
    for checkpoint, model in zip(checkpoints, models):
        check_compatible(model, data)
        label = model_label(model)
        labelled[label if label not in labelled else f"{label} ({Path(checkpoint).name})"] = model
    return labelled, data


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Predicted labels, one forward pass in eval mode (one noise draw for a noisy model)."""
    with model_mode(model, "eval"):
        return model(images).argmax(dim=1)
