"""What an evaluation runs on: models from checkpoints, and the test set they were trained for.

The dataset is taken from the checkpoint's metadata (``dataset.name``,
``data_dir``, ``options``) unless ``--dataset``/``--data-dir`` override it; a
different dataset name replaces the checkpoint's options too. Evaluation always
uses the test split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_model
from ..data import ImageDataset, load_dataset
from ..errors import ConfigError


def model_label(model: nn.Module) -> str:
    """``en5_resnet20``; an integration reads ``integrate(en1_resnet20 + en1_resnet32)``."""
    spec = getattr(model, "spec", {})
    if "integrate" in spec:
        return "integrate(" + " + ".join(s.get("name", "?") for s in spec["integrate"]) + ")"
    return spec.get("name", type(model).__name__)


def load_labelled_models(
    checkpoints: Sequence[str | Path], dataset: str, data_dir: str | None, limit: int | None = None
) -> tuple[dict[str, nn.Module], ImageDataset]:
    """({model label: model}, the test split of ``dataset``) for the checkpoints.

    Labels are the models' names (``en5_resnet20``); a repeated name gets its file name
    appended. Every model must fit the data (classes, channels).
    """
    if not checkpoints:
        raise ConfigError("no checkpoints given")
    models = [load_model(p) for p in checkpoints]
    data = evaluation_data(models[0], dataset, data_dir, limit)
    labelled: dict[str, nn.Module] = {}
    for checkpoint, model in zip(checkpoints, models):
        check_compatible(model, data)
        label = model_label(model)
        labelled[label if label not in labelled else f"{label} ({Path(checkpoint).name})"] = model
    return labelled, data


def file_label(label: str) -> str:
    """A model label made safe as a file or directory name."""
    return re.sub(r"[^\w.+-]+", "_", label).strip("_")


def evaluation_data(model: nn.Module, name: str | None, data_dir: str | None, limit: int | None) -> ImageDataset:
    """The test split for ``model``: from its checkpoint metadata unless ``name``/``data_dir`` are given."""
    recorded = getattr(model, "checkpoint_meta", {}).get("dataset") or {}
    if name is None:
        name = recorded.get("name")
        if name is None:
            raise ConfigError("the checkpoint records no dataset; pass --dataset (and --data-dir)")
    same = recorded.get("name") == name
    options = dict(recorded.get("options") or {}) if same else {}
    if data_dir is None and same:
        data_dir = recorded.get("data_dir")
    data = load_dataset(name, data_dir, train=False, **options)
    check_compatible(model, data)
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {limit}")
        data = data.subset(torch.arange(min(limit, len(data))))
    return data


def _network_spec(model: nn.Module) -> dict:
    spec = getattr(model, "spec", {})
    return spec["integrate"][0] if "integrate" in spec else spec


def check_compatible(model: nn.Module, data: ImageDataset) -> None:
    """The model's classes and input channels match ``data``, and so does its recorded dataset."""
    spec = _network_spec(model)
    label = model_label(model)
    if spec.get("num_classes", data.num_classes) != data.num_classes:
        raise ConfigError(f"{label} has {spec['num_classes']} classes but {data.name} has {data.num_classes}")
    if spec.get("in_channels", data.images.shape[1]) != data.images.shape[1]:
        raise ConfigError(f"{label} takes {spec['in_channels']} input channels but {data.name} images have "
                          f"{data.images.shape[1]}")
