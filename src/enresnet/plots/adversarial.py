"""Fig. 6 of the paper: clean images and their adversarial versions for several models and
attacks (IFGSM^20 and C&W against ResNet20 and En_5ResNet20 in the paper), with labels.

:func:`plot_adversarial_examples` draws given tensors (made by
:func:`enresnet.evaluate.figures.adversarial_examples`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from .canvas import new_figure, save_png

RIGHT, WRONG = "tab:green", "tab:red"


def _show(ax, image: torch.Tensor) -> None:
    pixels = image.detach().cpu().clamp(0, 1)
    if pixels.shape[0] == 1:
        ax.imshow(pixels[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(pixels.permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


def plot_adversarial_examples(
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str],
    adversarial: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    path: str | Path,
) -> Path:
    """One row per image: the clean image with its true label, then for each column title
    (e.g. ``"ResNet20, IFGSM^20"``) the adversarial image with the predicted label, green
    where the prediction is right and red where the attack fooled the model.

    ``images``: (N, C, H, W) in [0, 1]; ``adversarial``: {title: (adv images (N, C, H, W),
    predicted labels (N,))}.
    """
    rows, columns = len(images), 1 + len(adversarial)
    figure = new_figure(1.9 * columns, 2.0 * rows + 0.3)
    axes = figure.subplots(rows, columns, squeeze=False)
    for row in range(rows):
        truth = int(labels[row])
        _show(axes[row, 0], images[row])
        axes[row, 0].set_xlabel(f"true: {class_names[truth]}", fontsize=9)
        for column, (adv_images, predicted) in enumerate(adversarial.values(), start=1):
            guess = int(predicted[row])
            _show(axes[row, column], adv_images[row])
            axes[row, column].set_xlabel(
                f"pred: {class_names[guess]}", fontsize=9, color=RIGHT if guess == truth else WRONG
            )
    for column, title in enumerate(["clean", *adversarial], start=0):
        axes[0, column].set_title(title, fontsize=9)
    return save_png(figure, path)
