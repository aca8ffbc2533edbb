"""Batch-wise data augmentation on tensors (He et al. 2016; paper Sec. 4.1).

Random crop of the original size from the image zero-padded by ``padding``
pixels, and a horizontal flip with probability 1/2, for a whole batch at once
on its device: one gather, no per-sample Python.
"""

from __future__ import annotations

import torch


def random_crop_flip(
    images: torch.Tensor, padding: int = 4, flip: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Augment a float batch (N, C, H, W). Random draws come from ``generator`` (on CPU)."""
    n, c, h, w = images.shape
    device = images.device
    if padding > 0:
        padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
        offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(device)
        rows = offsets[0, :, None] + torch.arange(h, device=device)  # (N, H)
        cols = offsets[1, :, None] + torch.arange(w, device=device)  # (N, W)
        batch = torch.arange(n, device=device)[:, None, None, None]
        chan = torch.arange(c, device=device)[None, :, None, None]
        images = padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]
    if flip:
        mask = (torch.rand(n, generator=generator) < 0.5).to(device)
        images = torch.where(mask[:, None, None, None], images.flip(3), images)
    return images
