"""Validation accuracy during training: natural and IFGSM robust (Eq. 16).

Runs in eval mode with noise on (the model as it is used) under a forked RNG
seeded by (seed, epoch): the training RNG stream is left untouched, so a
resumed run draws the same noise, and re-running :func:`split_accuracy` with
the same seed on the same weights gives the same number. Under DDP each rank
takes every world_size-th batch and the counts are summed.
"""

from __future__ import annotations

import torch
from torch import nn

from ..attacks import IFGSM
from ..data import ImageDataset, iterate_batches
from .distributed import DistContext


def split_accuracy(
    model: nn.Module,
    dataset: ImageDataset,
    batch_size: int,
    seed: int,
    attack: dict | None = None,
    ctx: DistContext | None = None,
    device: torch.device | str = "cpu",
) -> tuple[float, float | None]:
    """(natural accuracy, robust accuracy or None) on ``dataset``.

    ``attack`` = {"eps", "alpha", "steps"} for IFGSM from x (no random start,
    no EOT), or None to skip the robust accuracy.
    """
    ctx = ctx or DistContext()
    was_training = model.training
    model.eval()
    counts = torch.zeros(3, dtype=torch.float64)  # natural correct, robust correct, seen
    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        ifgsm = IFGSM(model, eps=attack["eps"], alpha=attack["alpha"], steps=attack["steps"]) if attack else None
        for index, (x, y) in enumerate(iterate_batches(dataset, batch_size)):
            if index % ctx.world_size != ctx.rank:
                continue
            x, y = x.to(device), y.to(device)
            with torch.no_grad():
                counts[0] += (model(x).argmax(1) == y).sum().item()
            if ifgsm is not None:
                x_adv = ifgsm(x, y)
                with torch.no_grad():
                    counts[1] += (model(x_adv).argmax(1) == y).sum().item()
            counts[2] += len(y)
    model.train(was_training)
    ctx.all_reduce_sum(counts)
    seen = max(counts[2].item(), 1.0)
    return counts[0].item() / seen, (counts[1].item() / seen if attack else None)
