"""The numbers the figures draw: accuracy against eps, and adversarial examples (Fig. 6).

Both go through the evaluation plan (:mod:`.plan`): the eps curve runs, at each
eps, the plan with that (given) budget and one IFGSM attack, so a stochastic
model is attacked with EOT and predicted ``repeats`` times like in any
evaluation, with the 95% interval of each point; Fig. 6's attacks are built by
the plan's factory. :mod:`enresnet.plots` only draws what these return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from ..attacks import model_mode
from ..data import ImageDataset
from ..models.randomness import is_stochastic
from .budget import scaled_alpha
from .plan import EvaluationPlan, run_plan, with_budget
from .protocol import build_attack
from .runner import CLEAN


class CurvePoint(NamedTuple):
    """Accuracy under an attack of budget ``eps`` with its 95% interval (fractions)."""

    eps: float
    accuracy: float
    low: float
    high: float


def robust_accuracy_curve(
    model: nn.Module,
    data: ImageDataset,
    plan: EvaluationPlan,
    eps_values: Sequence[float],
    steps: int = 20,
    alpha_fraction: float = 0.25,
    out_dir: Path | None = None,
) -> list[CurvePoint]:
    """Accuracy (mean over the plan's repeats) and its interval under IFGSM^steps with alpha =
    ``alpha_fraction * eps`` (:func:`~.budget.scaled_alpha`), at each eps of ``eps_values``; eps = 0 is the
    clean accuracy."""
    name = f"ifgsm{steps}"
    curve = []
    for eps in eps_values:
        point = replace(plan, attacks=(), sanity_size=0) if eps == 0 else replace(
            with_budget(plan, eps, scaled_alpha(eps, 1.0, alpha_fraction)), attacks=(name,), sanity_size=0)
        result = run_plan(point, model, data, out_dir=out_dir)
        stats = result.results[CLEAN if eps == 0 else name]
        curve.append(CurvePoint(float(eps), stats.mean, *stats.interval()))
    return curve


def adversarial_examples(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    attacks: Mapping[str, str],
    plan: EvaluationPlan,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{``"model, label"``: (adversarial images, the attacked model's predictions, one draw)} for ``attacks``
    ({column label: attack name as ``--attacks``}), built by the plan's factory with the model's measured
    randomness."""
    columns = {}
    for model_name, model in models.items():
        stochastic = is_stochastic(model, images)
        for label, name in attacks.items():
            adv = build_attack(name, model, plan.settings, stochastic)(images, labels).detach()
            columns[f"{model_name}, {label}"] = (adv, predict(model, adv))
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
