"""Fig. 5 of the paper: training and validation accuracy per epoch, several runs on one plot.

A run directory (written by ``enresnet train``) holds ``metrics.jsonl``, one JSON
object per epoch with ``epoch`` (1-based), ``train_acc``, ``val_nat_acc`` and
``val_rob_acc`` (fractions; ``val_rob_acc`` is null for natural training), and
``config.json``, the resolved config whose ``model.name`` labels the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from matplotlib import rcParams
from matplotlib.ticker import MaxNLocator

from ..errors import ConfigError
from .canvas import new_figure, save_png

CURVES = (("train_acc", "-", "train"), ("val_nat_acc", "--", "val natural"), ("val_rob_acc", ":", "val robust"))


def run_label(run_dir: Path) -> str:
    """``model.name`` of the run's resolved config, else the directory name."""
    try:
        return str(json.loads((run_dir / "config.json").read_text())["model"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return run_dir.name


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The per-epoch rows of ``RUN_DIR/metrics.jsonl``."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise ConfigError(f"{path} does not exist; pass a run directory written by `enresnet train`")
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError as err:
        raise ConfigError(f"{path} is not JSON lines ({err})") from None
    if not rows or any("epoch" not in row or "train_acc" not in row for row in rows):
        raise ConfigError(f"{path} has no epochs with 'epoch' and 'train_acc'")
    return rows


def read_runs(run_dirs: list[str | Path]) -> dict[str, list[dict]]:
    """{label: rows} for the runs; equal labels get the directory name appended."""
    runs: dict[str, list[dict]] = {}
    for run_dir in map(Path, run_dirs):
        label = run_label(run_dir)
        if label in runs:
            label = f"{label} ({run_dir.name})"
        runs[label] = read_metrics(run_dir)
    return runs


def plot_training_curves(runs: Mapping[str, list[dict]], path: str | Path, title: str = "") -> Path:
    """Accuracy (%) per epoch: one colour per run; solid training, dashed natural validation,
    dotted robust validation (where recorded)."""
    figure = new_figure(7.5, 4.8)
    ax = figure.subplots()
    colours = rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (label, rows) in enumerate(runs.items()):
        colour = colours[index % len(colours)]
        for key, style, kind in CURVES:
            points = [(row["epoch"], 100 * row[key]) for row in rows if row.get(key) is not None]
            if points:
                epochs, accuracy = zip(*points)
                ax.plot(epochs, accuracy, style, color=colour, marker=".", label=f"{label}, {kind}")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "Training and validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(figure, path)
