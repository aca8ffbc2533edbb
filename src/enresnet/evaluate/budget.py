"""The one budget rule: eps and alpha of every attack of an evaluation (docs/evaluation.md).

1. a given eps (with a given alpha, else the dataset convention's alpha scaled
   in proportion to eps);
2. else the checkpoint's adversarial-training budget, when the checkpoint was
   adversarially trained (PGD, Algorithm 1, or TRADES) on this dataset;
3. else the dataset's convention: Fashion-MNIST eps = 0.1, alpha = 0.01;
   CIFAR-10/100 the paper's eps = 8/255, alpha = 2/255 (Sec. 4); the synthetic
   data (CIFAR-shaped) follow CIFAR.

The step size ``alpha`` of an attack at another eps than the one it was given
(a given eps without alpha, the sanity checks' eps sweep, the figures' eps
curve) is always :func:`scaled_alpha`: the same ``alpha : eps`` proportion.

A naturally trained model has no training budget, whatever its checkpoint says
(checkpoints written before natural runs stopped recording one carry the
config's unused default). Every entry point (``evaluate_model``, ``enresnet
evaluate``, ``transfer``, ``plot``, ``reproduce``) resolves eps here, through
:class:`~enresnet.evaluate.plan.EvaluationPlan`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..data import dataset_name
from ..errors import ConfigError

PAPER_EPS, PAPER_ALPHA = 8 / 255, 2 / 255
CONVENTIONS = {
    "cifar10": (PAPER_EPS, PAPER_ALPHA, "the paper's CIFAR budget"),
    "cifar100": (PAPER_EPS, PAPER_ALPHA, "the paper's CIFAR budget"),
    "fashion_mnist": (0.1, 0.01, "the Fashion-MNIST convention"),
    "synthetic": (PAPER_EPS, PAPER_ALPHA, "CIFAR's budget for the CIFAR-shaped synthetic data"),
}
ADVERSARIAL_METHODS = ("pgd", "trades")


@dataclass(frozen=True)
class Budget:
    """The l_inf budget (pixel units) and step of an evaluation, and where they came from."""

    eps: float
    alpha: float
    source: str
    """``given``, ``checkpoint`` (its adversarial-training budget) or ``convention`` (the dataset's)."""
    note: str


def fmt(value: float) -> str:
    """``8/255`` for a whole number of grey levels below 0.1, else the decimal."""
    scaled = value * 255
    return f"{round(scaled)}/255" if abs(scaled - round(scaled)) < 1e-6 and value < 0.1 else f"{value:g}"


def scaled_alpha(eps: float, reference_eps: float, reference_alpha: float) -> float:
    """The step of an attack of budget ``eps`` in the proportion ``reference_alpha : reference_eps`` (the one
    step-size rule: the paper's IFGSM^20 takes alpha = eps / 4, Sec. 4)."""
    return reference_alpha * eps / reference_eps


def check_budget_value(name: str, value: Any) -> float:
    """``value`` as a float in (0, 1] (pixel units), or a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= 1:
        raise ConfigError(f"{name} must be in (0, 1] (pixel units, e.g. 8/255 = {8 / 255:.4f}), got {value!r}")
    return float(value)


def training_budget(model: nn.Module | None, dataset: str) -> tuple[float, float] | None:
    """(eps, alpha) the checkpoint of ``model`` was adversarially trained with on ``dataset``, else None."""
    meta = getattr(model, "checkpoint_meta", None) or {}
    recorded = meta.get("dataset") or {}
    if meta.get("method") not in ADVERSARIAL_METHODS or not recorded.get("name"):
        return None
    if dataset_name(recorded["name"]) != dataset:
        return None
    attack = meta.get("attack") or recorded  # checkpoints before the "attack" section kept it under "dataset"
    if not attack.get("eps") or not attack.get("alpha"):
        return None
    return float(attack["eps"]), float(attack["alpha"])


def resolve_budget(dataset: str, eps: float | None = None, alpha: float | None = None,
                   model: nn.Module | None = None) -> Budget:
    """The budget of an evaluation of ``model`` on ``dataset`` by the module's rule."""
    dataset = dataset_name(dataset)
    if eps is not None:
        eps = check_budget_value("eps", eps)
    if alpha is not None:
        alpha = check_budget_value("alpha", alpha)
    base_eps, base_alpha, convention = CONVENTIONS[dataset]
    trained = training_budget(model, dataset) if eps is None else None
    if eps is not None:
        source, eps_note = "given", f"eps = {fmt(eps)} (given)"
        default_alpha, alpha_source = scaled_alpha(eps, base_eps, base_alpha), f"scaled with eps from {convention}"
    elif trained is not None:
        eps, default_alpha = trained
        source, eps_note = "checkpoint", f"eps = {fmt(eps)} (the checkpoint's adversarial-training budget)"
        alpha_source = "the checkpoint's training step"
    else:
        eps, default_alpha = base_eps, base_alpha
        source, eps_note = "convention", f"eps = {fmt(eps)} ({convention})"
        alpha_source = convention
    if alpha is None:
        alpha, alpha_note = default_alpha, f"alpha = {fmt(default_alpha)} ({alpha_source})"
    else:
        alpha_note = f"alpha = {fmt(alpha)} (given)"
    return Budget(eps, alpha, source, f"{eps_note}; {alpha_note}")
