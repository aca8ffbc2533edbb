"""Datasets as uint8 tensors: CIFAR-10/100, Fashion-MNIST, synthetic; split; augmentation."""

from __future__ import annotations

from pathlib import Path

from .augment import random_crop_flip
from .cifar import CIFAR_SOURCES, load_cifar
from .dataset import (
    DatasetError,
    ImageDataset,
    epoch_permutation,
    iterate_batches,
    num_batches,
    to_float,
    train_val_split,
)
from .fashion_mnist import load_fashion_mnist
from .synthetic import synthetic_dataset

DATASETS = ("cifar10", "cifar100", "fashion_mnist", "synthetic")


def load_dataset(name: str, data_dir: str | Path | None = None, train: bool = True, **options) -> ImageDataset:
    """Load a dataset by name: cifar10, cifar100, fashion_mnist, synthetic.

    ``options`` go to the loader (for synthetic: num_samples, num_classes,
    channels, size, noise, seed).
    """
    if name in CIFAR_SOURCES:
        return load_cifar(name, data_dir or "data", train=train, **options)
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir, train=train, **options)
    if name == "synthetic":
        return synthetic_dataset(train=train, **options)
    raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


__all__ = [
    "DATASETS",
    "DatasetError",
    "ImageDataset",
    "epoch_permutation",
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
