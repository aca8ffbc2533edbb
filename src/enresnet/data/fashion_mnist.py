"""Fashion-MNIST (Xiao et al. 2017) from IDX files.

A ``data_dir`` the user chose (--data-dir, ``data.data_dir``) is honoured: the
files are read from it, or downloaded into it when the download is on, else the
error names it (a mistyped --data-dir never silently reads another copy). With
no data dir, or the default one (:data:`DEFAULT_DATA_DIR`, ``data``), the files
are looked for there, then in /usr/share/datasets/fashion-mnist (Debian package
``dataset-fashion-mnist``; reading it because the default folder does not exist
is said once per process on stderr, as information), else downloaded into the
default folder. Downloads are checked
against the official MD5s of the .gz files; files found on disk are checked for
their IDX structure (Debian recompresses them, so their MD5s differ).
Adversarial experiments on Fashion-MNIST use eps = 0.1 by convention, not 8/255.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import torch

from ..errors import DatasetError
from .dataset import ImageDataset
from .download import fetch
from .options import DEFAULT_DATA_DIR

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
BASE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {
    ("train", "images"): ("train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310"),
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) of unsigned bytes into an array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise DatasetError(f"cannot read {path} ({err}); the file is corrupted: delete it and fetch it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise DatasetError(f"{path} is truncated: header says {dims}, found {len(raw) - offset} bytes of data")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


_TOLD: set[Path] = set()
"""The default data folders whose absence this process has already mentioned (said once per command)."""


def _tell_fallback(data_dir: Path) -> None:
    """Say, once per process, that the installed copy is read because ``data_dir`` (the default) is absent."""
    if data_dir not in _TOLD:
        _TOLD.add(data_dir)
        print(f"reading Fashion-MNIST from {SYSTEM_DIR} (the installed copy; there is no {data_dir}/ folder here)",
              file=sys.stderr)


def _locate(stem: str, md5: str, data_dir: Path | None, download: bool) -> Path:
    """The IDX file ``stem`` (or its .gz) in ``data_dir``, else (no data dir, or the default one) in
    :data:`SYSTEM_DIR`; downloaded into ``data_dir`` only when ``download`` and it is in neither."""
    chosen = data_dir is not None and data_dir != Path(DEFAULT_DATA_DIR)
    missing_dir = data_dir is not None and not data_dir.is_dir()
    for folder in ([data_dir] if data_dir else []) + ([] if chosen else [SYSTEM_DIR]):
        for name in (stem, stem + ".gz"):
            if (folder / name).exists():
                if folder == SYSTEM_DIR and missing_dir:
                    _tell_fallback(data_dir)
                return folder / name
    if download and data_dir is not None:
        return fetch(BASE_URL + stem + ".gz", data_dir / (stem + ".gz"), md5)
    where = f"the data directory {data_dir}" + (" (which does not exist)" if missing_dir else "")
    if chosen:
        raise DatasetError(
            f"Fashion-MNIST file {stem}.gz not found in {where}. Pass the folder of the IDX files as --data-dir "
            f"(data.data_dir), allow the download, or leave the data directory out to read {SYSTEM_DIR}."
        )
    raise DatasetError(
        f"Fashion-MNIST file {stem}.gz not found in {where if data_dir else '(no --data-dir)'} or {SYSTEM_DIR}. "
        "Install it with 'apt-get install dataset-fashion-mnist' or pass --data-dir with the folder of the IDX files."
    )


def load_fashion_mnist(data_dir: str | Path | None = None, train: bool = True, download: bool = True) -> ImageDataset:
    """Load Fashion-MNIST (train: 60k, test: 10k) as 1x28x28 uint8 images."""
    split = "train" if train else "test"
    data_dir = Path(data_dir) if data_dir else None
    arrays = {}
    for kind in ("images", "labels"):
        stem, md5 = FILES[(split, kind)]
        arrays[kind] = read_idx(_locate(stem, md5, data_dir, download))
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DatasetError(f"Fashion-MNIST {split}: images {images.shape} and labels {labels.shape} do not match")
    return ImageDataset(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        10,
        name="fashion_mnist",
        class_names=list(CLASS_NAMES),
    )
