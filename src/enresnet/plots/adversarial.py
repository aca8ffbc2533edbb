"""Fig. 6 of the paper: clean images and their adversarial versions for several models and
attacks (IFGSM^20 and C&W against ResNet20 and En_5ResNet20 in the paper), with labels.

:func:`plot_adversarial_examples` draws given tensors; :func:`adversarial_examples` makes
them with attack factories (``model -> attack(images, labels) -> adv_images``, e.g.
``lambda m: IFGSM(m, eps=8/255, alpha=2/255, steps=20)``), so any attack, real or fake,
can be plugged in; :func:`draw_adversarial_figure` does it all from checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import islice
from pathlib import Path

import torch
from torch import nn

from ..data import to_float
from .canvas import new_figure, save_png
from .checkpoints import load_labelled_models, predict

AttackFactory = Callable[[nn.Module], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]
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


def adversarial_examples(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    attacks: Mapping[str, AttackFactory],
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{``"model, attack"``: (adversarial images, the attacked model's predictions)}."""
    columns = {}
    for model_name, model in models.items():
        for attack_name, make_attack in attacks.items():
            adv = make_attack(model)(images, labels).detach()
            columns[f"{model_name}, {attack_name}"] = (adv, predict(model, adv))
    return columns


def one_per_class(labels: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the first image of each of the first ``count`` classes met (then the next images)."""
    first: dict[int, int] = {}
    for index, label in enumerate(labels.tolist()):
        first.setdefault(label, index)
        if len(first) == count:
            break
    chosen = set(first.values())
    others = (i for i in range(len(labels)) if i not in chosen)
    return torch.tensor(sorted(chosen | set(islice(others, count - len(chosen)))), dtype=torch.long)


def draw_adversarial_figure(
    checkpoints: Sequence[str | Path],
    dataset: str,
    data_dir: str | None,
    attacks: Mapping[str, AttackFactory],
    path: str | Path,
    count: int = 4,
) -> Path:
    """Fig. 6 from checkpoints: ``count`` test images of different classes, attacked by
    every attack against every model (labels from the checkpoints' model names)."""
    models, data = load_labelled_models(checkpoints, dataset, data_dir)
    chosen = data.subset(one_per_class(data.labels, count))
    images = to_float(chosen.images)
    columns = adversarial_examples(models, images, chosen.labels, attacks)
    names = chosen.class_names or [str(k) for k in range(chosen.num_classes)]
    return plot_adversarial_examples(images, chosen.labels, names, columns, path)
