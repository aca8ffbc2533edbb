"""CIFAR-10 and CIFAR-100 from the official python-version archives (Krizhevsky 2009).

The archive is fetched (or found in ``data_dir``), its MD5 verified, extracted
with path checks, and its batches read as uint8 tensors. The batches are
pickles: they are read with :class:`RestrictedUnpickler`, which accepts only the
few globals a pickled numpy array needs, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import disk_full_as_error
from .dataset import DatasetError, ImageDataset
from .download import fetch


@dataclass(frozen=True)
class CifarSource:
    """Where an official CIFAR archive lives and what is inside it."""

    name: str
    url: str
    md5: str
    folder: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    meta_file: str
    label_key: bytes
    names_key: bytes
    num_classes: int

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


CIFAR10 = CifarSource(
    name="cifar10",
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_files=("test_batch",),
    meta_file="batches.meta",
    label_key=b"labels",
    names_key=b"label_names",
    num_classes=10,
)

CIFAR100 = CifarSource(
    name="cifar100",
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    md5="eb9058c3a382ffc7106e4002c42a8d85",
    folder="cifar-100-python",
    train_files=("train",),
    test_files=("test",),
    meta_file="meta",
    label_key=b"fine_labels",
    names_key=b"fine_label_names",
    num_classes=100,
)

CIFAR_SOURCES = {s.name: s for s in (CIFAR10, CIFAR100)}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals needed for numpy arrays and bytes."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a CIFAR batch")


def _read_batch(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise DatasetError(f"{path} is not a valid CIFAR batch ({err}); delete the folder and extract again") from None


def _batch_arrays(batch: object, source: CifarSource, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The (images (N, 3, 32, 32) uint8, labels (N,) int64) of a batch, checked for keys, sizes and label range."""
    fix = f"delete {path.parent} and run again to re-extract the official archive"
    keys = (b"data", source.label_key)
    if not isinstance(batch, dict) or any(key not in batch for key in keys):
        raise DatasetError(f"{path} is not a {source.name} batch (it needs the keys data and "
                           f"{source.label_key.decode()}); {fix}")
    try:
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[source.label_key])
    except (ValueError, TypeError) as err:
        raise DatasetError(f"{path} holds unreadable arrays ({err}); {fix}") from None
    pixels = 3 * 32 * 32
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels:
        raise DatasetError(f"{path}: data is {data.dtype} {data.shape}, expected uint8 (N, {pixels}); {fix}")
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{path}: {labels.shape} labels for {len(data)} images; {fix}")
    if len(labels) and (labels.min() < 0 or labels.max() >= source.num_classes):
        raise DatasetError(f"{path}: labels outside [0, {source.num_classes}); {fix}")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _safe_extract(archive: Path, dest: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        root = dest.resolve()
        members = tar.getmembers()
        for member in members:
            target = (dest / member.name).resolve()
            if not (member.isfile() or member.isdir()) or root not in (target, *target.parents):
                raise DatasetError(f"{archive} holds an unsafe entry {member.name!r}; refusing to extract")
        with disk_full_as_error(dest, sum(m.size for m in members), f"the contents of {archive.name}"):
            tar.extractall(dest, filter="data") if hasattr(tarfile, "data_filter") else tar.extractall(dest)


def load_cifar(
    source: CifarSource | str,
    data_dir: str | Path,
    train: bool = True,
    url: str | None = None,
    md5: str | None = None,
    download: bool = True,
) -> ImageDataset:
    """Load CIFAR-10/100 (train or test) as an :class:`ImageDataset`.

    ``url``/``md5`` override the official ones (tests use a file:// archive).
    Without ``download`` the archive must already be in ``data_dir``.
    """
    if isinstance(source, str):
        source = CIFAR_SOURCES[source]
    data_dir = Path(data_dir)
    folder = data_dir / source.folder
    if not (folder / source.meta_file).exists():
        if not download and not (data_dir / source.filename).exists():
            raise DatasetError(
                f"{source.name} is not in {data_dir}{'' if data_dir.is_dir() else ' (which does not exist)'}: "
                f"place the official archive {source.filename} "
                f"({source.url}) there, or allow the download"
            )
        archive = fetch(url or source.url, data_dir / source.filename, md5 or source.md5)
        _safe_extract(archive, data_dir)
        if not (folder / source.meta_file).exists():
            raise DatasetError(f"{archive} does not contain {source.folder}/{source.meta_file}")
    images, labels = [], []
    for fname in source.train_files if train else source.test_files:
        path = folder / fname
        if not path.exists():
            raise DatasetError(f"missing {path}; delete {folder} and run again to re-extract")
        data, batch_labels = _batch_arrays(_read_batch(path), source, path)
        images.append(data)
        labels.append(batch_labels)
    meta = _read_batch(folder / source.meta_file)
    names = meta.get(source.names_key) if isinstance(meta, dict) else None
    if not isinstance(names, list) or len(names) != source.num_classes:
        raise DatasetError(f"{folder / source.meta_file} does not list the {source.num_classes} class names; "
                           f"delete {folder} and run again to re-extract the official archive")
    names = [n.decode(errors="replace") if isinstance(n, bytes) else str(n) for n in names]
    return ImageDataset(
        torch.from_numpy(np.concatenate(images)),
        torch.from_numpy(np.concatenate(labels)),
        source.num_classes,
        name=source.name,
        class_names=names,
    )
