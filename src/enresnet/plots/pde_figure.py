"""Fig. 4 of the paper: the terminal condition of Eq. (10) and u(., 0) for several sigma."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .canvas import new_figure, save_png


def _letter(index: int) -> str:
    return chr(ord("a") + index)


def plot_pde_solutions(terminal: np.ndarray, solutions: Mapping[float, np.ndarray], path: str | Path) -> Path:
    """Draw u(x, 0) for each sigma (panels (a), (b), ...) and the terminal condition f (last panel, (d)
    in the paper), on the unit square with x_1 across and x_2 up.

    All panels share f's colour range: by the maximum principle the exact u(., 0)
    lies in it, so colour outside it (saturated, arrows on the colour bar) is
    numerical overshoot at unresolved fronts.
    """
    panels = [(f"({_letter(i)}) $u(x, 0)$, $\\sigma = {sigma:g}$", u) for i, (sigma, u) in enumerate(solutions.items())]
    panels.append((f"({_letter(len(panels))}) terminal condition $u(x, 1) = f(x)$", terminal))
    figure = new_figure(3.3 * len(panels) + 0.8, 3.6)
    axes = figure.subplots(1, len(panels))
    low, high = float(terminal.min()), float(terminal.max())
    for ax, (title, field) in zip(axes, panels):
        image = ax.imshow(
            field.T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis", vmin=low, vmax=high, interpolation="nearest"
        )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("$x_1$")
        ax.set_xticks([0, 0.5, 1])
        ax.set_yticks([0, 0.5, 1])
    axes[0].set_ylabel("$x_2$")
    figure.colorbar(image, ax=list(axes), extend="both", shrink=0.85)
    return save_png(figure, path)
