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

from ..attacks import model_mode
from ..checkpoint import load_model
from ..data import ImageDataset, load_dataset, to_float
from ..errors import ConfigError
from ..models import spec_of

MIN_SIDE = 8
"""The smallest image side evaluated: the CIFAR ResNets downsample by 4 before pooling."""


def model_label(model: nn.Module) -> str:
    """``en5_resnet20``; an integration reads ``integrate(en1_resnet20 + en1_resnet32)``."""
    spec = spec_of(model)
    return spec.label if spec is not None else type(model).__name__


def check_inputs(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(labels as int64 on the images' device, the model's number of classes), after checking every input.

    Images: a non-empty (N, C, H, W) float32 tensor of finite pixels in [0, 1] (or uint8), C the model's
    ``in_channels``, sides of at least :data:`MIN_SIDE`, a size the model accepts (one forward pass of the first
    image); labels: N integer class indices in range. Each refusal is a ConfigError naming the argument and the fix.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ConfigError(f"images must be a (N, C, H, W) tensor of pixels in [0, 1], got {shape}; a single image "
                          "needs images[None]")
    if images.dtype not in (torch.float32, torch.uint8):
        raise ConfigError(f"images must be float32 pixels in [0, 1] or uint8 grey levels, got {images.dtype}; "
                          "use images.float() / 255 for 0-255 values")
    if images.shape[0] == 0:
        raise ConfigError("images: no images given")
    if images.dtype == torch.float32:
        if not bool(torch.isfinite(images).all()):
            raise ConfigError("images contain NaN or infinite pixels; evaluate finite pixels in [0, 1]")
        if images.min() < 0 or images.max() > 1:
            raise ConfigError("images must be pixels in [0, 1]; normalisation belongs inside the model")
    spec = spec_of(model)
    channels = None if spec is None else spec.network.in_channels
    if channels is not None and channels != images.shape[1]:
        raise ConfigError(f"images have {images.shape[1]} channels but {model_label(model)} takes in_channels="
                          f"{channels} (images {tuple(images.shape)}); build or load the model for these images")
    if min(images.shape[2:]) < MIN_SIDE:
        raise ConfigError(f"images of {images.shape[2]}x{images.shape[3]} pixels are too small: at least "
                          f"{MIN_SIDE}x{MIN_SIDE}")
    try:
        with torch.no_grad(), model_mode(model, "eval"):
            logits = model(to_float(images[:1]))
    except RuntimeError as err:
        raise ConfigError(f"{model_label(model)} does not accept images of shape {tuple(images.shape[1:])} "
                          f"({str(err).splitlines()[0]})") from None
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != 1:
        raise ConfigError(f"model must return logits (N, classes); got {getattr(logits, 'shape', type(logits))}")
    num_classes = int(logits.shape[1] if spec is None else spec.network.num_classes)
    if (not isinstance(labels, torch.Tensor) or labels.shape != images.shape[:1] or labels.is_floating_point()
            or labels.is_complex() or labels.dtype == torch.bool):
        got = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ConfigError(f"labels must be {images.shape[0]} integer class indices (an int64 tensor (N,)), got {got}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ConfigError(f"labels must be class indices in [0, {num_classes - 1}] ({model_label(model)} has "
                          f"{num_classes} classes), got values in [{int(labels.min())}, {int(labels.max())}]")
    return labels.to(device=images.device, dtype=torch.int64), num_classes


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


def check_compatible(model: nn.Module, data: ImageDataset) -> None:
    """The model's classes and input channels match ``data``, and so does its recorded dataset."""
    spec = spec_of(model)
    if spec is None:
        return
    network, label = spec.network, model_label(model)
    if network.num_classes != data.num_classes:
        raise ConfigError(f"{label} has {network.num_classes} classes but {data.name} has {data.num_classes}")
    if network.in_channels != data.images.shape[1]:
        raise ConfigError(f"{label} takes {network.in_channels} input channels but {data.name} images have "
                          f"{data.images.shape[1]}")
