"""Robust accuracy against the attack budget eps, one curve per model, with 95% intervals.

Draws the points :func:`enresnet.evaluate.figures.robust_accuracy_curve` measures:
(eps, accuracy, low, high); eps = 0 is the natural (clean) accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .canvas import new_figure, save_png


def plot_accuracy_vs_eps(
    curves: Mapping[str, Sequence[tuple[float, float, float, float]]],
    path: str | Path,
    title: str = "",
    per_255: bool = True,
    mark_eps: float | None = None,
) -> Path:
    """Accuracy (%) against eps, one line with markers and 95% error bars per model; eps shown in
    units of 1/255 (``per_255``) or as pixel fractions; ``mark_eps`` (the evaluation's eps) as a
    vertical line."""
    figure = new_figure(6.4, 4.4)
    ax = figure.subplots()
    scale = 255 if per_255 else 1
    for label, points in curves.items():
        eps, accuracy, low, high = zip(*sorted(points))
        below = [100 * (a - lo) for a, lo in zip(accuracy, low)]
        above = [100 * (hi - a) for a, hi in zip(accuracy, high)]
        ax.errorbar([scale * e for e in eps], [100 * a for a in accuracy], yerr=[below, above], fmt="o-",
                    capsize=3, label=label)
    if mark_eps is not None:
        ax.axvline(scale * mark_eps, color="0.5", linestyle="--", linewidth=1,
                   label=f"evaluation eps = {scale * mark_eps:g}" + ("/255" if per_255 else ""))
    ax.set_xlabel(r"$\epsilon$ ($\times$1/255)" if per_255 else r"$\epsilon$")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title or "Accuracy under attack")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(figure, path)
