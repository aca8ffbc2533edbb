"""Robust accuracy against the attack budget eps, one curve per model.

:func:`plot_accuracy_vs_eps` draws given numbers; :func:`robust_accuracy_curve` measures
them with an attack factory ``(model, eps) -> attack(images, labels) -> adv_images``
(default :func:`ifgsm_factory`: IFGSM^20, alpha = eps / 4); :func:`draw_eps_figure` does
it all from checkpoints. eps = 0 is the natural (clean) accuracy, no attack run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from ..attacks import IFGSM
from ..data import ImageDataset, iterate_batches
from .canvas import new_figure, save_png
from .checkpoints import load_labelled_models, predict

EpsAttackFactory = Callable[[nn.Module, float], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


def ifgsm_factory(steps: int = 20, alpha_fraction: float = 0.25, eot_samples: int = 1) -> EpsAttackFactory:
    """IFGSM with ``steps`` steps of size ``alpha_fraction * eps`` from x (Eq. 16)."""

    def make(model: nn.Module, eps: float):
        return IFGSM(model, eps=eps, alpha=alpha_fraction * eps, steps=steps, eot_samples=eot_samples)

    return make


def robust_accuracy_curve(
    model: nn.Module,
    data: ImageDataset,
    eps_values: Sequence[float],
    attack_factory: EpsAttackFactory,
    batch_size: int = 128,
) -> list[tuple[float, float]]:
    """[(eps, accuracy on the adversarial images)] over ``data``; one prediction per image
    (one noise draw for a noisy model)."""
    curve = []
    for eps in eps_values:
        attack = attack_factory(model, eps) if eps > 0 else None
        correct = 0
        for images, labels in iterate_batches(data, batch_size):
            if attack is not None:
                images = attack(images, labels).detach()
            correct += int((predict(model, images) == labels).sum())
        curve.append((float(eps), correct / len(data)))
    return curve


def plot_accuracy_vs_eps(
    curves: Mapping[str, Sequence[tuple[float, float]]], path: str | Path, title: str = "", per_255: bool = True
) -> Path:
    """Accuracy (%) against eps, one line with markers per model; eps shown in units of
    1/255 (``per_255``) or as pixel fractions."""
    figure = new_figure(6.4, 4.4)
    ax = figure.subplots()
    scale = 255 if per_255 else 1
    for label, points in curves.items():
        eps, accuracy = zip(*sorted(points))
        ax.plot([scale * e for e in eps], [100 * a for a in accuracy], "o-", label=label)
    ax.set_xlabel(r"$\epsilon$ ($\times$1/255)" if per_255 else r"$\epsilon$")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title or "Accuracy under attack")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(figure, path)


def draw_eps_figure(
    checkpoints: Sequence[str | Path],
    dataset: str,
    data_dir: str | None,
    eps_values: Sequence[float],
    path: str | Path,
    attack_factory: EpsAttackFactory,
    title: str = "",
    limit: int | None = None,
    batch_size: int = 128,
) -> dict[str, list[tuple[float, float]]]:
    """Measure and draw the curves of the checkpoints' models on the test split of
    ``dataset`` (first ``limit`` images); returns {model label: curve}."""
    models, data = load_labelled_models(checkpoints, dataset, data_dir, limit)
    curves = {
        label: robust_accuracy_curve(model, data, eps_values, attack_factory, batch_size)
        for label, model in models.items()
    }
    plot_accuracy_vs_eps(curves, path, title=title or f"{data.name}: accuracy under attack ({len(data)} images)")
    return curves
