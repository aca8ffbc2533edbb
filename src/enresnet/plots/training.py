"""Fig. 5 of the paper: training and validation accuracy per epoch, several runs on one plot.

A run directory (written by ``enresnet train``) holds ``metrics.jsonl``, one JSON
object per epoch with ``epoch`` (1-based), ``train_acc``, ``val_nat_acc`` and
``val_rob_acc`` (fractions; ``val_rob_acc`` is null for natural training), and
``config.json``, the resolved config whose ``model.name`` labels the run and
whose ``train.method`` says what the training accuracy is measured on: the
adversarial batches the model is trained on for PGD/TRADES (Algorithm 1), the
clean ones for natural training.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib import rcParams
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..train.run_dir import RunDir
from .canvas import new_figure, save_png

CURVES = (("train_acc", "-", "train"), ("val_nat_acc", "--", "validation, clean"),
          ("val_rob_acc", ":", "validation, adversarial (IFGSM)"))

TRAIN_LABELS = {
    "adversarial": "train (on its adversarial training batches)",
    "natural": "train (clean batches)",
    None: "train (on the batches trained on: adversarial for PGD/TRADES)",
}


def read_runs(run_dirs: list[str | Path]) -> dict[str, list[dict]]:
    """{label: rows} for the runs; equal labels get the directory name appended. Every row carries
    ``train_method`` from the run's config (None when unknown)."""
    runs: dict[str, list[dict]] = {}
    for run in map(RunDir, run_dirs):
        name = run.recorded("model", "name")
        label = run.path.name if name is None else str(name)
        if label in runs:
            label = f"{label} ({run.path.name})"
        method = run.recorded("train", "method")
        method = None if method is None else str(method)
        runs[label] = [dict(row, train_method=method) for row in run.read_metrics(required=True)]
    return runs


def _training_batches(runs: Mapping[str, list[dict]]) -> str | None:
    """"adversarial" or "natural" when every run says the same (``train_method``, or a robust validation
    accuracy, which only PGD/TRADES runs record), else None."""
    kinds = set()
    for rows in runs.values():
        method = next((row["train_method"] for row in rows if row.get("train_method")), None)
        if method is None and any(row.get("val_rob_acc") is not None for row in rows):
            method = "pgd"
        kinds.add(None if method is None else "natural" if method == "natural" else "adversarial")
    return kinds.pop() if len(kinds) == 1 else None


def plot_training_curves(runs: Mapping[str, list[dict]], path: str | Path, title: str = "") -> Path:
    """Fig. 5 (:func:`training_figure`) written as a PNG at ``path``."""
    return save_png(training_figure(runs, title), path)


def training_figure(runs: Mapping[str, list[dict]], title: str = "") -> Figure:
    """Accuracy (%) per epoch: one colour per run; solid training (on the batches trained on, adversarial
    for PGD/TRADES: labelled so), dashed clean validation, dotted adversarial validation (where recorded).
    Two legends, beside the axes: runs by colour, curves by line style."""
    figure = new_figure(9.5, 4.8)
    ax = figure.subplots()
    colours = rcParams["axes.prop_cycle"].by_key()["color"]
    run_handles, drawn = [], set()
    for index, (label, rows) in enumerate(runs.items()):
        colour = colours[index % len(colours)]
        run_handles.append(Line2D([], [], color=colour, lw=2, label=label))
        for key, style, _ in CURVES:
            points = [(row["epoch"], 100 * row[key]) for row in rows if row.get(key) is not None]
            if points:
                epochs, accuracy = zip(*points)
                ax.plot(epochs, accuracy, style, color=colour, marker=".")
                drawn.add(key)
    names = {**{key: kind for key, _, kind in CURVES}, "train_acc": TRAIN_LABELS[_training_batches(runs)]}
    style_handles = [Line2D([], [], color="0.3", linestyle=style, marker=".", label=names[key])
                     for key, style, _ in CURVES if key in drawn]
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "Training and validation accuracy")
    ax.grid(alpha=0.3)
    first = ax.legend(handles=run_handles, title="run", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.add_artist(first)
    ax.legend(handles=style_handles, title="curve", fontsize=8, loc="lower left", bbox_to_anchor=(1.01, 0.0))
    return figure
