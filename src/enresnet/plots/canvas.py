"""One way to make and write figures: matplotlib's object API on the Agg canvas.

No pyplot: nothing global is switched, so importing this never touches the
user's backend, and figures are freed when dropped.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..atomic import atomic_write_bytes
from ..evaluate.protocol import display_name


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on an Agg canvas."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``figure`` as a PNG at ``path`` (parent folders created), atomically (:mod:`enresnet.atomic`)."""
    path = Path(path)
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=dpi)
    atomic_write_bytes(path, png.getvalue())
    return path


def figure_label(attack: str) -> str:
    """``ifgsm20`` -> ``IFGSM$^{20}$`` (the paper's notation, as matplotlib mathtext)."""
    return re.sub(r"\^(\d+)", r"$^{\1}$", display_name(attack))
