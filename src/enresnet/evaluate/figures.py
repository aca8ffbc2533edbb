"""The numbers the figures draw: accuracy against eps, and adversarial examples (Fig. 6).

Attacks come in as factories — ``model -> attack(images, labels) -> adv_images``
for Fig. 6, ``(model, eps) -> attack`` for the eps curve — so tests and users
can plug in any. Accuracies go through the one evaluation loop
(:func:`~enresnet.evaluate.accuracy.attacked_accuracy`), with their 95%
intervals; :mod:`enresnet.plots` only draws what these return.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import islice
from typing import NamedTuple

import torch
from torch import nn

from ..attacks import IFGSM, model_mode
from ..data import ImageDataset
from .accuracy import attacked_accuracy
from .protocol import AttackSettings, build_attack

AttackFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
AttackFactory = Callable[[nn.Module], AttackFn]
EpsAttackFactory = Callable[[nn.Module, float], AttackFn]


class CurvePoint(NamedTuple):
    """Accuracy under an attack of budget ``eps`` with its 95% interval (fractions)."""

    eps: float
    accuracy: float
    low: float
    high: float


def attack_factory(name: str, settings: AttackSettings) -> AttackFactory:
    """The attack ``name`` (as ``--attacks`` names it) for any model, with ``settings``' budget."""
    return lambda model: build_attack(name, model, settings)


def ifgsm_factory(steps: int = 20, alpha_fraction: float = 0.25, eot_samples: int = 1) -> EpsAttackFactory:
    """IFGSM with ``steps`` steps of size ``alpha_fraction * eps`` from x (Eq. 16)."""

    def make(model: nn.Module, eps: float) -> AttackFn:
        return IFGSM(model, eps=eps, alpha=alpha_fraction * eps, steps=steps, eot_samples=eot_samples)

    return make


def robust_accuracy_curve(
    model: nn.Module,
    data: ImageDataset,
    eps_values: Sequence[float],
    attack_factory: EpsAttackFactory,
    batch_size: int = 128,
    repeats: int = 1,
) -> list[CurvePoint]:
    """Accuracy (mean over ``repeats`` draws) and its interval at each eps; eps = 0 is the clean
    accuracy (no attack built)."""
    curve = []
    for eps in eps_values:
        attack = attack_factory(model, eps) if eps > 0 else None
        stats = attacked_accuracy(model, data, attack, repeats=repeats, batch_size=batch_size)
        curve.append(CurvePoint(float(eps), stats.mean, *stats.interval()))
    return curve


def adversarial_examples(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    attacks: Mapping[str, AttackFactory],
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{``"model, attack"``: (adversarial images, the attacked model's predictions, one draw)}."""
    columns = {}
    for model_name, model in models.items():
        for attack_name, make_attack in attacks.items():
            adv = make_attack(model)(images, labels).detach()
            columns[f"{model_name}, {attack_name}"] = (adv, predict(model, adv))
    return columns


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Predicted labels, one forward pass in eval mode (one noise draw for a noisy model)."""
    with model_mode(model, "eval"):
        return model(images).argmax(dim=1)


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
