"""Accuracy of a (possibly noisy) model: repeated stochastic predictions, mean/std and worst case.

The prediction of a noise-injected model is random: every forward pass is one
Monte-Carlo draw (paper Sec. 3.1). An evaluation therefore predicts every
(clean or adversarial) image ``R`` times with independent draws and reports

* the mean and the standard deviation over the R draws of the accuracy, and
* the worst case: an image counts as correct only if all R predictions are right.

For a model without noise the R predictions coincide, so it is predicted once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks import model_mode
from ..data import ImageDataset, iterate_batches
from ..models import has_noise


@torch.no_grad()
def correct_draws(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, repeats: int) -> torch.Tensor:
    """(repeats, N) bool: whether each of ``repeats`` independent predictions is right.

    Each draw is its own forward pass of the batch, as the deployed model sees it.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    with model_mode(model, "eval"):
        draws = repeats if has_noise(model) else 1
        correct = torch.stack([model(images).argmax(dim=1) == labels for _ in range(draws)])
    return correct.expand(repeats, -1).cpu()


@dataclass(frozen=True)
class AccuracyStats:
    """Accuracies (fractions) of ``n`` images predicted ``repeats`` times each."""

    n: int
    repeats: int
    mean: float
    std: float
    worst: float

    @classmethod
    def from_counts(cls, per_repeat: list[int], all_correct: int, n: int) -> AccuracyStats:
        """From the number of correct images of each draw and of images right in every draw."""
        if n == 0:
            raise ValueError("accuracy of an empty set of images")
        accs = [c / n for c in per_repeat]
        mean = sum(accs) / len(accs)
        std = math.sqrt(sum((a - mean) ** 2 for a in accs) / (len(accs) - 1)) if len(accs) > 1 else 0.0
        return cls(n=n, repeats=len(accs), mean=mean, std=std, worst=all_correct / n)

    @classmethod
    def from_correct(cls, correct: torch.Tensor) -> AccuracyStats:
        """From a (repeats, N) bool matrix of :func:`correct_draws`."""
        return cls.from_counts(correct.sum(dim=1).tolist(), int(correct.all(dim=0).sum()), correct.shape[1])

    def as_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "repeats": self.repeats, "mean": self.mean, "std": self.std, "worst": self.worst}


AttackFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def attacked_accuracy(
    model: nn.Module,
    data: ImageDataset,
    attack: AttackFn | None,
    *,
    repeats: int = 1,
    batch_size: int = 128,
) -> AccuracyStats:
    """In-memory accuracy of ``model`` on ``attack(images, labels)`` (clean when ``attack`` is None)."""
    parts = []
    for images, labels in iterate_batches(data, batch_size):
        inputs = images if attack is None else attack(images, labels)
        parts.append(correct_draws(model, inputs, labels, repeats))
    return AccuracyStats.from_correct(torch.cat(parts, dim=1))
