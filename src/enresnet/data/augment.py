"""Batch-wise data augmentation on tensors (He et al. 2016; paper Sec. 4.1).

Random crop of the original size from the image zero-padded by ``padding``
pixels, and a horizontal flip with probability 1/2, for a whole batch at once
on its device: one gather, no per-sample Python. The random draws
(:func:`crop_flip_draws`) are separate from their application
(:func:`apply_crop_flip`), so that a whole epoch's draws can be made on the CPU
and sent to the device in one copy instead of one per batch.
"""

from __future__ import annotations

import torch


def crop_flip_draws(
    n: int, padding: int = 4, flip: bool = True, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop offsets (2, n) in [0, 2 * padding] and flip decisions (n,) for ``n`` images (CPU)."""
    offsets = (
        torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
        if padding > 0
        else torch.zeros(2, n, dtype=torch.int64)
    )
    flips = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    return offsets, flips


def apply_crop_flip(images: torch.Tensor, padding: int, offsets: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Crop a float batch (N, C, H, W) at ``offsets`` of its ``padding``-padded version, flip where ``flips``."""
    n, c, h, w = images.shape
    device = images.device
    if padding > 0:
        padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
        rows = offsets[0, :, None] + torch.arange(h, device=device)  # (N, H)
        cols = offsets[1, :, None] + torch.arange(w, device=device)  # (N, W)
        batch = torch.arange(n, device=device)[:, None, None, None]
        chan = torch.arange(c, device=device)[None, :, None, None]
        images = padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]
    return torch.where(flips[:, None, None, None], images.flip(3), images)


def random_crop_flip(
    images: torch.Tensor, padding: int = 4, flip: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augment a float batch (N, C, H, W). Random draws come from ``generator`` (on CPU)."""
    offsets, flips = crop_flip_draws(images.shape[0], padding, flip, generator)
    return apply_crop_flip(images, padding, offsets.to(images.device), flips.to(images.device))
