"""Fig. 4 of the paper: the terminal condition of Eq. (10) and u(., 0) for several sigma."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..pde import regularity
from .canvas import new_figure, save_png

CONTOUR_LEVELS = 11
"""Contour lines per panel, equally spaced over f's range (Fig. 4 draws contour lines)."""


def _letter(index: int) -> str:
    return chr(ord("a") + index)


def _numbers(field: np.ndarray) -> str:
    r = regularity(field)
    grad = f"max$|\\nabla u|$ {r['max_grad']:.0f}"
    return f"TV {r['total_variation']:.2f}, {grad}\nrange [{field.min():.2f}, {field.max():.2f}]"


def plot_pde_solutions(terminal: np.ndarray, solutions: Mapping[float, np.ndarray], path: str | Path) -> Path:
    """Draw u(x, 0) for each sigma (panels (a), (b), ...), the terminal condition f ((d) in
    the paper), and a last panel of profiles along the middle line x_2 = 1/2, on the unit
    square with x_1 across and x_2 up.

    All maps share f's colour range and the same contour levels: by the maximum
    principle the exact u(., 0) lies in f's range, so colour outside it (saturated,
    arrows on the colour bar) is numerical overshoot, and the loss of amplitude as
    sigma grows shows as paler maps with fewer contour lines. Each title gives the
    regularity numbers of :func:`~enresnet.pde.regularity` (total variation, max
    |grad u|) and the range, which Theorems 1-2 say shrink as sigma grows.
    """
    panels = [(f"({_letter(i)}) $u(x, 0)$, $\\sigma = {sigma:g}$", u) for i, (sigma, u) in enumerate(solutions.items())]
    panels.append((f"({_letter(len(panels))}) terminal $u(x, 1) = f(x)$", terminal))
    figure = new_figure(3.3 * (len(panels) + 1) + 0.8, 4.0)
    axes = figure.subplots(1, len(panels) + 1)
    low, high = float(terminal.min()), float(terminal.max())
    levels = np.linspace(low, high, CONTOUR_LEVELS)
    n = terminal.shape[0]
    line = np.arange(n) / n
    for ax, (title, field) in zip(axes, panels):
        image = ax.imshow(
            field.T, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu_r", vmin=low, vmax=high, interpolation="nearest"
        )
        ax.contour(line, line, field.T, levels=levels, colors="k", linewidths=0.4)
        ax.axhline(line[n // 2], color="0.3", linestyle=":", linewidth=0.8)
        ax.set_title(f"{title}\n{_numbers(field)}", fontsize=9)
        ax.set_xlabel("$x_1$")
        ax.set_xticks([0, 0.5, 1])
        ax.set_yticks([0, 0.5, 1])
    axes[0].set_ylabel("$x_2$")
    figure.colorbar(image, ax=list(axes[:-1]), extend="both", shrink=0.8)

    profile = axes[-1]
    profile.plot(line, terminal[:, n // 2], color="0.6", linestyle="--", linewidth=0.8, label="$f$")
    for sigma, u in solutions.items():
        profile.plot(line, u[:, n // 2], linewidth=1.2, label=f"$\\sigma = {sigma:g}$")
    profile.set_title(f"({_letter(len(panels))}) profiles along $x_2 = {line[n // 2]:g}$", fontsize=9)
    profile.set_xlabel("$x_1$")
    profile.set_ylim(low - 0.05 * (high - low), high + 0.3 * (high - low))
    profile.set_box_aspect(1)
    profile.legend(fontsize=8, loc="upper center", ncols=2, framealpha=0.9)
    return save_png(figure, path)
