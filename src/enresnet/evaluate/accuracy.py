"""Accuracy of a (possibly noisy) model: repeated stochastic predictions, mean/std and worst case.

The prediction of a noise-injected model is random: every forward pass is one
Monte-Carlo draw (paper Sec. 3.1). An evaluation therefore predicts every
(clean or adversarial) image ``R`` times with independent draws and reports

* the mean and the standard deviation over the R draws of the accuracy, and
* the worst case: an image counts as correct only if all R predictions are right.

For a deterministic model the R predictions coincide, so it is predicted once.
Whether a model is stochastic is measured (:mod:`enresnet.models.randomness`):
callers pass the verdict, or leave ``stochastic=None`` to have it measured on
the images at hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..attacks import model_mode
from ..data import ImageDataset, iterate_batches
from ..models.randomness import is_stochastic


@torch.no_grad()
def correct_draws(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, repeats: int,
                  stochastic: bool | None = None) -> torch.Tensor:
    """(repeats, N) bool, on the images' device: whether each of ``repeats`` independent predictions is right.

    A deterministic model (``stochastic`` False, or measured so when None and
    ``repeats > 1``) is predicted once and that prediction repeated.

    Each draw is its own forward pass of the batch, as the deployed model sees
    it. The one place every accuracy of the project is computed (evaluation,
    sanity checks, AutoAttack's re-check, training validation); nothing is
    read back to the host, so it can run inside a CUDA graph.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if stochastic is None and repeats > 1:
        stochastic = is_stochastic(model, images)
    with model_mode(model, "eval"):
        draws = repeats if stochastic else 1
        correct = torch.stack([model(images).argmax(dim=1) == labels for _ in range(draws)])
    return correct.expand(repeats, -1)


@dataclass(frozen=True)
class AccuracyStats:
    """Accuracies (fractions) of ``n`` images predicted ``repeats`` times each."""

    n: int
    repeats: int
    mean: float
    std: float
    worst: float
    per_image: torch.Tensor | None = field(default=None, compare=False, repr=False)
    """(N,) int: in how many of the ``repeats`` draws each image was right (when known)."""

    @classmethod
    def from_counts(
        cls, per_repeat: list[int], all_correct: int, n: int, per_image: torch.Tensor | None = None
    ) -> AccuracyStats:
        """From the number of correct images of each draw and of images right in every draw."""
        if n == 0:
            raise ValueError("accuracy of an empty set of images")
        accs = [c / n for c in per_repeat]
        mean = sum(accs) / len(accs)
        std = math.sqrt(sum((a - mean) ** 2 for a in accs) / (len(accs) - 1)) if len(accs) > 1 else 0.0
        return cls(n=n, repeats=len(accs), mean=mean, std=std, worst=all_correct / n, per_image=per_image)

    @classmethod
    def from_correct(cls, correct: torch.Tensor) -> AccuracyStats:
        """From a (repeats, N) bool matrix of :func:`correct_draws`."""
        return cls.from_counts(correct.sum(dim=1).tolist(), int(correct.all(dim=0).sum()), correct.shape[1],
                               per_image=correct.sum(dim=0).cpu())

    @property
    def robust_images(self) -> torch.Tensor:
        """(N,) bool: the images right in every draw (the worst case, image by image)."""
        if self.per_image is None:
            raise ValueError("these accuracies were made without per-image counts")
        return self.per_image == self.repeats

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Confidence interval of :attr:`mean` over the images (see :func:`wilson_interval`)."""
        return wilson_interval(self.mean * self.n, self.n, level) if self.repeats == 1 or self.per_image is None \
            else mean_interval(self.per_image.double() / self.repeats, level)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able; with the per-image counts when known, so that a table can be read back whole."""
        out: dict[str, Any] = {"n": self.n, "repeats": self.repeats, "mean": self.mean, "std": self.std,
                               "worst": self.worst}
        if self.per_image is not None:
            out["per_image"] = self.per_image.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccuracyStats:
        """The inverse of :meth:`as_dict`."""
        per_image = torch.tensor(data["per_image"], dtype=torch.int64) if "per_image" in data else None
        return cls(n=data["n"], repeats=data["repeats"], mean=data["mean"], std=data["std"], worst=data["worst"],
                   per_image=per_image)


def worst_case(columns: list[AccuracyStats]) -> AccuracyStats:
    """Images right in every draw of every column (clean and each attack), as one accuracy.

    The robust accuracy an evaluation can stand behind: a lower bound of every
    column's mean and worst case, and of the accuracy under the strongest single attack.
    Columns evaluated on fewer images (e.g. AutoAttack on the first k) hold a
    prefix of the same images: the worst case is taken over the images every
    column saw (its ``n`` says how many).
    """
    if not columns:
        raise ValueError("the worst case of no columns")
    common = min(c.n for c in columns)
    robust = torch.stack([c.robust_images[:common] for c in columns]).all(dim=0)
    count = int(robust.sum())
    return AccuracyStats.from_counts([count], count, robust.numel(), per_image=robust.long())


_Z = {0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}


def wilson_interval(successes: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (images right / images): the sampling error
    of an accuracy measured on ``n`` images drawn from the test distribution."""
    if n <= 0:
        raise ValueError("an interval needs at least one image")
    z = _Z[level]
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: torch.Tensor, level: float = 0.95) -> tuple[float, float]:
    """Normal-approximation interval of the mean of per-image values in [0, 1] (an image's fraction
    of right draws), clipped to [0, 1]; falls back to Wilson when every value is 0 or 1."""
    n = values.numel()
    if bool(((values == 0) | (values == 1)).all()):
        return wilson_interval(float(values.sum()), n, level)
    mean = float(values.mean())
    half = _Z[level] * float(values.std()) / math.sqrt(n)
    return max(0.0, mean - half), min(1.0, mean + half)


AttackFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def attacked_accuracy(
    model: nn.Module,
    data: ImageDataset,
    attack: AttackFn | None,
    *,
    repeats: int = 1,
    batch_size: int = 128,
    stochastic: bool | None = None,
) -> AccuracyStats:
    """In-memory accuracy of ``model`` on ``attack(images, labels)`` (clean when ``attack`` is None)."""
    parts = []
    for images, labels in iterate_batches(data, batch_size):
        inputs = images if attack is None else attack(images, labels)
        parts.append(correct_draws(model, inputs, labels, repeats, stochastic))
    return AccuracyStats.from_correct(torch.cat(parts, dim=1))
