"""A study's figures: Fig. 5 (training curves of its runs), accuracy vs eps, Fig. 6 (adversarial
examples against ResNet20 and the En model), drawn with :mod:`enresnet.plots`."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from ..atomic import atomic_write_text
from ..data import ImageDataset, to_float
from ..evaluate import EvaluationPlan
from ..evaluate.figures import CurvePoint, adversarial_examples, one_per_class, robust_accuracy_curve
from ..plots.adversarial import plot_adversarial_examples
from ..plots.canvas import figure_label
from ..plots.robustness import plot_accuracy_vs_eps
from ..plots.training import plot_training_curves
from ..train.run_dir import RunDir
from .studies import Scale, Study, first

EXAMPLE_ATTACKS = ("ifgsm20", "cw")
"""Fig. 6 shows IFGSM^20 and C&W adversarial images."""


def eps_curves(study: Study, scale: Scale, models: dict[str, nn.Module], data: ImageDataset,
               plan: EvaluationPlan, path: Path) -> dict[str, list[CurvePoint]]:
    """Accuracy under IFGSM (``scale.eps_steps`` steps, alpha = eps / 4; EOT and the plan's repeats for a
    stochastic model, as every evaluation) against eps, with 95% intervals and the evaluation's eps marked;
    the numbers also go to ``eps_curve.json`` next to the figure ([eps, accuracy, low, high] per point)."""
    subset = first(data, scale.eps_limit)
    eps = plan.settings.eps
    eps_values = [f * eps for f in study.eps_fractions]
    curves = {m.label: robust_accuracy_curve(models[m.key], subset, plan, eps_values, steps=scale.eps_steps)
              for m in study.models_at(scale)}
    plot_accuracy_vs_eps(curves, path, per_255=eps < 0.1, mark_eps=eps,
                         title=f"{data.name}: IFGSM$^{{{scale.eps_steps}}}$, alpha = eps/4, EOT "
                         f"{plan.settings.eot} for noisy models ({len(subset)} images)")
    atomic_write_text(path.with_suffix(".json"), json.dumps(
        {"images": len(subset), "steps": scale.eps_steps, "eot": plan.settings.eot, "repeats": plan.run.repeats,
         "curves": curves}, indent=2) + "\n")
    return curves


def draw_figures(study: Study, scale: Scale, models: dict[str, nn.Module], data: ImageDataset,
                 plan: EvaluationPlan, run_dirs: dict[str, Path], folder: Path) -> dict[str, Path]:
    """Write the figures under ``folder``; returns {caption: path}."""
    figures = {}
    path = folder / "fig5_training.png"
    plot_training_curves({m.label: RunDir(run_dirs[m.key]).read_metrics(required=True)
                          for m in study.models_at(scale)}, path,
                         title=f"{study.name} ({scale.name}): training and validation accuracy")
    figures["Fig. 5: training (solid) and validation accuracy (dashed natural, dotted robust) per epoch"] = path
    path = folder / "eps_curve.png"
    eps_curves(study, scale, models, data, plan, path)
    figures["Accuracy under IFGSM against eps (numbers in eps_curve.json)"] = path
    if study.examples is not None:
        chosen = data.subset(one_per_class(data.labels, scale.examples))
        labelled = {study.model(k).label: models[k] for k in study.examples}
        attacks = {figure_label(a): a for a in EXAMPLE_ATTACKS}
        columns = adversarial_examples(labelled, to_float(chosen.images), chosen.labels, attacks, plan)
        path = folder / "fig6_examples.png"
        plot_adversarial_examples(to_float(chosen.images), chosen.labels,
                                  chosen.class_names or [str(k) for k in range(chosen.num_classes)], columns, path)
        figures["Fig. 6: clean images and their adversarial versions (green: right, red: fooled)"] = path
    return figures
