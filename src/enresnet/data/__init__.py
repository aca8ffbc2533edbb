"""Datasets as uint8 tensors: CIFAR-10/100, Fashion-MNIST, synthetic; split; augmentation.

Names, aliases and loader options (:func:`dataset_name`, :func:`check_options`) need no torch, so
that a config is checked before torch is imported; the loaders and tensors are imported on first
use (PEP 562), as in :mod:`enresnet`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DatasetError
from ..lazy import lazy_exports
from .options import DEFAULT_DATA_DIR, SEED_LIMIT, check_options, image_shape

DATASETS = ("cifar10", "cifar100", "fashion_mnist", "synthetic")
DATASET_ALIASES = {
    "cifar10": ("cifar10", "cifar-10", "cifar_10"),
    "cifar100": ("cifar100", "cifar-100", "cifar_100"),
    "fashion_mnist": ("fashion_mnist", "fmnist", "fashion-mnist", "fashionmnist"),
    "synthetic": ("synthetic",),
}
"""Every accepted spelling of each dataset (case-insensitive)."""

_LAZY = {
    "ImageDataset": ".dataset",
    "epoch_permutation": ".dataset",
    "generator_seed": ".dataset",
    "iterate_batches": ".dataset",
    "num_batches": ".dataset",
    "to_float": ".dataset",
    "train_val_split": ".dataset",
    "random_crop_flip": ".augment",
    "load_cifar": ".cifar",
    "load_fashion_mnist": ".fashion_mnist",
    "synthetic_dataset": ".synthetic",
}
"""The names that import torch, and the module each comes from."""

if TYPE_CHECKING:
    from .augment import random_crop_flip
    from .cifar import load_cifar
    from .dataset import (
        ImageDataset,
        epoch_permutation,
        generator_seed,
        iterate_batches,
        num_batches,
        to_float,
        train_val_split,
    )
    from .fashion_mnist import load_fashion_mnist
    from .synthetic import synthetic_dataset


def dataset_name(name: str) -> str:
    """The canonical name of ``name`` (``"fmnist"``, ``"Fashion-MNIST"`` -> ``"fashion_mnist"``); an unknown or
    empty name is refused with the accepted aliases listed."""
    key = name.strip().lower() if isinstance(name, str) else None
    for canonical, aliases in DATASET_ALIASES.items():
        if key in aliases:
            return canonical
    accepted = "; ".join(f"{c}: {', '.join(a)}" for c, a in DATASET_ALIASES.items())
    raise DatasetError(f"unknown dataset {name!r}; accepted names (case-insensitive): {accepted}")


def load_dataset(name: str, data_dir: str | Path | None = None, train: bool = True, **options) -> ImageDataset:
    """Load a dataset by name: cifar10, cifar100, fashion_mnist, synthetic.

    ``options`` go to the loader (for synthetic: num_samples, num_classes,
    channels, size, noise, seed; for CIFAR: url, md5) and are checked first
    (:mod:`enresnet.data.options`); ``download`` is taken by CIFAR and Fashion-MNIST.
    ``data_dir`` is where CIFAR and Fashion-MNIST are read (or downloaded to; None: the
    default folder ``data``, which for Fashion-MNIST may fall back to the system copy);
    synthetic data is generated, so a data directory other than the default is refused.
    """
    from .cifar import CIFAR_SOURCES, load_cifar
    from .fashion_mnist import load_fashion_mnist
    from .synthetic import synthetic_dataset

    name = dataset_name(name)
    download = options.pop("download", True) if name != "synthetic" else True
    check_options(name, options, where="dataset options")
    if name == "synthetic" and data_dir is not None and Path(data_dir) != Path(DEFAULT_DATA_DIR):
        raise ConfigError(
            f"a data directory ({data_dir}) cannot apply to the synthetic dataset, which is generated, not read; "
            f"leave out --data-dir (and data.data_dir)"
        )
    if name in CIFAR_SOURCES:
        return load_cifar(name, data_dir or DEFAULT_DATA_DIR, train=train, download=download, **options)
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir, train=train, download=download)
    return synthetic_dataset(train=train, **options)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "DATASETS",
    "DATASET_ALIASES",
    "DEFAULT_DATA_DIR",
    "DatasetError",
    "SEED_LIMIT",
    "ImageDataset",
    "check_options",
    "dataset_name",
    "epoch_permutation",
    "generator_seed",
    "image_shape",
    "iterate_batches",
    "load_cifar",
    "load_dataset",
    "load_fashion_mnist",
    "num_batches",
    "random_crop_flip",
    "synthetic_dataset",
    "to_float",
    "train_val_split",
]
