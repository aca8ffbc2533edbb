"""An image dataset held as one uint8 tensor, its seeded split, and a batch iterator.

Following airbench, the whole dataset lives as one ``uint8`` tensor (N, C, H, W)
on the training device; batches are sliced from it, converted to float pixels in
[0, 1] and augmented batch-wise on the device: no per-sample Python in the loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from ..errors import DatasetError  # noqa: F401 (its home before errors.py: enresnet.data.dataset.DatasetError)
from .augment import apply_crop_flip, crop_flip_draws


@dataclass
class ImageDataset:
    """Images (N, C, H, W) and labels (N,) int64, with class metadata.

    Images are uint8 grey levels (every dataset on disk), or float32 pixels in
    [0, 1] (tensors handed to :func:`enresnet.evaluate.evaluate`).
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    name: str = ""
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (self.images.dtype == torch.uint8 or self.images.dtype == torch.float32) or self.images.dim() != 4:
            raise ValueError(
                f"images must be uint8 or float32 pixels in [0, 1], (N, C, H, W), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels shape {tuple(self.labels.shape)} does not match {self.images.shape[0]} images")
        self.labels = self.labels.to(torch.int64)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def subset(self, index: torch.Tensor) -> ImageDataset:
        return ImageDataset(self.images[index], self.labels[index], self.num_classes, self.name, self.class_names)

    def to(self, device: torch.device | str) -> ImageDataset:
        return ImageDataset(
            self.images.to(device), self.labels.to(device), self.num_classes, self.name, self.class_names
        )


def train_val_split(dataset: ImageDataset, val_size: int, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
    """Seeded random split into (train, validation); paper: 45k/5k of CIFAR's 50k."""
    if not 0 <= val_size < len(dataset):
        raise ValueError(f"val_size must be in [0, {len(dataset)}), got {val_size}")
    perm = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(generator_seed(seed)))
    perm = perm.to(dataset.images.device)
    return dataset.subset(perm[val_size:]), dataset.subset(perm[:val_size])


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float32 in [0, 1]; float32 pixels are returned as they are."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images


def generator_seed(value: int) -> int:
    """``value`` reduced to the 64 bits a torch generator takes (two's complement: the seed torch uses for any
    value it accepts), so that seed arithmetic never overflows."""
    return value % 2**64


def step_generator(seed: int, epoch: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator determined by (seed, epoch, step), so a resumed run replays it exactly."""
    g = torch.Generator(device=device)
    g.manual_seed(generator_seed((seed * 1_000_003 + epoch) * 1_000_003 + step))
    return g


def epoch_permutation(n: int, seed: int, epoch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The shuffling order of epoch ``epoch`` (independent of how the run got there)."""
    g = torch.Generator().manual_seed(generator_seed(seed * 7919 + epoch))
    return torch.randperm(n, generator=g).to(device)


def iterate_batches(
    dataset: ImageDataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    augment: bool = False,
    seed: int = 0,
    epoch: int = 0,
    start_step: int = 0,
    drop_last: bool = False,
    padding: int = 4,
    flip: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (float images in [0,1], labels) on the dataset's device.

    With ``shuffle`` the order is :func:`epoch_permutation`; with ``augment`` each
    batch gets the paper's random crop (zero padding ``padding``) and horizontal
    flip from :func:`step_generator`, so ``start_step`` resumes mid-epoch exactly.
    Nothing is read back from the device: the augmentation draws of the whole
    epoch go to the device in one copy.
    """
    n = len(dataset)
    device = dataset.images.device
    order = epoch_permutation(n, seed, epoch, device) if shuffle else None
    steps = n // batch_size if drop_last else -(-n // batch_size)
    sizes = [min(n, (step + 1) * batch_size) - step * batch_size for step in range(start_step, steps)]
    if augment and sizes:  # the epoch's draws, made on the CPU and sent to the device in one copy
        draws = [
            crop_flip_draws(size, padding, flip, step_generator(seed, epoch, step, "cpu"))
            for step, size in zip(range(start_step, steps), sizes)
        ]
        offsets = torch.cat([d[0] for d in draws], dim=1).to(device).split(sizes, dim=1)
        flips = torch.cat([d[1] for d in draws]).to(device).split(sizes)
    for i, step in enumerate(range(start_step, steps)):
        sl = slice(step * batch_size, step * batch_size + sizes[i])
        index = order[sl] if order is not None else sl
        images = to_float(dataset.images[index])
        if augment:
            images = apply_crop_flip(images, padding, offsets[i], flips[i])
        yield images, dataset.labels[index]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
