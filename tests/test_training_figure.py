"""Fig. 5 (enresnet.plots.training): integer epoch ticks, legends beside the curves, and a training curve
labelled with what it is measured on."""

import json

import pytest

from enresnet.plots.training import TRAIN_LABELS, read_runs, training_figure


def write_run(run_dir, epochs, method):
    run_dir.mkdir()
    rows = [{"epoch": e, "train_acc": 0.1 * e, "val_nat_acc": 0.1 * e + 0.05,
             "val_rob_acc": None if method == "natural" else 0.05 * e} for e in range(1, epochs + 1)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run_dir / "config.json").write_text(json.dumps({"model": {"name": f"{method}_net"}, "train": {"method": method}}))
    return run_dir


def legend_texts(figure):
    return [[t.get_text() for t in legend.get_texts()] for legend in figure.axes[0].findobj(
        lambda artist: artist.__class__.__name__ == "Legend")]


@pytest.mark.parametrize("methods, train_label", [
    (["pgd"], TRAIN_LABELS["adversarial"]),
    (["pgd", "trades"], TRAIN_LABELS["adversarial"]),
    (["natural"], TRAIN_LABELS["natural"]),
    (["pgd", "natural"], TRAIN_LABELS[None]),
])
def test_training_curve_is_labelled_with_its_batches(tmp_path, methods, train_label):
    runs = read_runs([write_run(tmp_path / f"{i}-{m}", 2, m) for i, m in enumerate(methods)])
    texts = legend_texts(training_figure(runs))
    assert texts[0] == list(runs)  # runs by colour
    assert texts[1][0] == train_label


def test_without_a_config_a_robust_validation_means_adversarial_training():
    rows = [{"epoch": 1, "train_acc": 0.2, "val_nat_acc": 0.3, "val_rob_acc": 0.1}]
    assert legend_texts(training_figure({"run": rows}))[1][0] == TRAIN_LABELS["adversarial"]


def test_two_epochs_have_integer_ticks_and_the_legends_stay_off_the_curves(tmp_path):
    runs = read_runs([write_run(tmp_path / f"r{i}", 2, "pgd") for i in range(4)])
    figure = training_figure(runs)
    figure.canvas.draw()
    ax = figure.axes[0]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [1, 2]
    renderer = figure.canvas.get_renderer()
    axes_box = ax.get_window_extent(renderer)
    legends = ax.findobj(lambda artist: artist.__class__.__name__ == "Legend")
    assert len(legends) == 2
    for legend in legends:
        assert legend.get_window_extent(renderer).x0 >= axes_box.x1  # beside the axes, not over the curves
