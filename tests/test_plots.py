"""Figures: Fig. 4 (PDE), Fig. 5 (training curves), Fig. 6 (adversarial examples), accuracy against eps.

Figure functions get synthetic inputs; the drivers get fake attack factories (and, once,
the real attacks through the CLI on a tiny model)."""

import json

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from torch import nn

import enresnet
from enresnet.checkpoint import save_model
from enresnet.cli import main
from enresnet.data import ImageDataset
from enresnet.errors import ConfigError
from enresnet.evaluate import build_attack, make_plan
from enresnet.evaluate.figures import adversarial_examples, one_per_class, predict, robust_accuracy_curve
from enresnet.plots.adversarial import plot_adversarial_examples
from enresnet.plots.pde_figure import plot_pde_solutions
from enresnet.plots.robustness import plot_accuracy_vs_eps
from enresnet.plots.training import plot_training_curves, read_runs

SYNTHETIC = {"name": "synthetic", "options": {"num_samples": 24, "size": 16}}


def png_shape(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(path).shape


def assert_drawn(path):
    """A PNG with more than a blank canvas: many distinct colours."""
    pixels = imread(path)[..., :3].reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50


def test_pde_figure_has_one_panel_per_sigma_plus_terminal(tmp_path):
    x = np.linspace(0, 1, 32, endpoint=False)
    f = np.sin(2 * np.pi * x)[:, None] * np.cos(2 * np.pi * x)[None, :]
    path = plot_pde_solutions(f, {0.0: f, 0.01: 0.9 * f, 0.1: 0.5 * f}, tmp_path / "fig4.png")
    height, width, _ = png_shape(path)
    assert width > 3 * height  # four panels side by side
    assert_drawn(path)


def write_run(run_dir, epochs, model_name=None, robust=True):
    run_dir.mkdir()
    rows = [
        {"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5 + 0.04 * e, "val_nat_acc": 0.45 + 0.04 * e,
         "val_rob_acc": 0.3 + 0.02 * e if robust else None, "lr": 0.1, "seconds": 1.0}
        for e in range(1, epochs + 1)
    ]  # fmt: skip
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if model_name:
        (run_dir / "config.json").write_text(json.dumps({"model": {"name": model_name}}))


def test_training_runs_are_labelled_by_model_name_else_directory(tmp_path):
    write_run(tmp_path / "a", 5, "en5_resnet20")
    write_run(tmp_path / "b", 3, robust=False)
    write_run(tmp_path / "c", 4, "en5_resnet20")
    runs = read_runs([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    assert list(runs) == ["en5_resnet20", "b", "en5_resnet20 (c)"]
    assert [len(rows) for rows in runs.values()] == [5, 3, 4]
    path = plot_training_curves(runs, tmp_path / "fig5.png")
    assert_drawn(path)


def test_training_plot_command_and_its_errors(tmp_path, capsys):
    write_run(tmp_path / "run", 3, "resnet20")
    assert main(["plot", "training", str(tmp_path / "run"), "--out", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").stat().st_size > 5_000
    assert main(["plot", "training", str(tmp_path / "missing"), "--out", str(tmp_path / "g.png")]) == 2
    assert "metrics.jsonl does not exist" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.jsonl").write_text("{not json\n")
    with pytest.raises(ConfigError, match="not JSON lines"):
        read_runs([tmp_path / "bad"])


@pytest.mark.parametrize("channels", [1, 3])
def test_adversarial_figure_grid(tmp_path, channels):
    images = torch.rand(3, channels, 8, 8)
    labels = torch.tensor([0, 1, 2])
    columns = {"ResNet20, IFGSM^20": (images.flip(-1), torch.tensor([0, 2, 2])), "En5, C&W": (1 - images, labels)}
    path = plot_adversarial_examples(images, labels, ["cat", "dog", "deer"], columns, tmp_path / "fig6.png")
    height, width, _ = png_shape(path)
    assert 0.5 * height < width < 2 * height  # 3 rows x 3 columns
    assert_drawn(path)


def test_one_per_class_takes_first_of_each_class_then_fills():
    labels = torch.tensor([3, 3, 1, 3, 2, 1])
    assert one_per_class(labels, 3).tolist() == [0, 2, 4]
    assert one_per_class(labels, 5).tolist() == [0, 1, 2, 3, 4]


def test_adversarial_examples_attack_every_model_with_the_plans_attacks():
    torch.manual_seed(0)
    models = {"plain": enresnet.create_model("resnet20", num_classes=10),
              "noisy": enresnet.create_model("en1_resnet20")}
    images, labels = torch.rand(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    plan = make_plan("synthetic", attacks="fgsm,ifgsm2", eot=2)
    columns = adversarial_examples(models, images, labels, {"FGSM": "fgsm", "IFGSM^2": "ifgsm2"}, plan)
    assert list(columns) == ["plain, FGSM", "plain, IFGSM^2", "noisy, FGSM", "noisy, IFGSM^2"]
    adv, predicted = columns["plain, FGSM"]
    torch.manual_seed(1)
    expected = build_attack("fgsm", models["plain"], plan.settings, False)(images, labels)
    torch.testing.assert_close(adv, expected)
    assert (adv - images).abs().max() <= plan.settings.eps + 1e-6
    assert torch.equal(predicted, predict(models["plain"], adv))  # no noise: deterministic
    assert columns["noisy, IFGSM^2"][1].shape == (4,)


class BrightnessClassifier(nn.Module):
    """Class 1 if the mean of the first row of pixels is bright, else class 0 (differentiable enough for FGSM)."""

    def forward(self, x):
        score = (x[:, 0, 0, :].mean(dim=1) - 0.5) * 50
        return torch.stack([-score, score], dim=1)


def test_robust_accuracy_curve_counts_what_the_attack_flips():
    levels = torch.tensor([0, 255, 124, 131, 200], dtype=torch.uint8)  # the last one is misclassified
    pixels = levels.view(5, 1, 1, 1).expand(5, 1, 8, 8).contiguous()
    data = ImageDataset(pixels, torch.tensor([0, 1, 0, 1, 0]), num_classes=2, name="synthetic")
    plan = make_plan("synthetic", attacks=[], repeats=1, batch_size=2, bf16=False)
    curve = robust_accuracy_curve(BrightnessClassifier(), data, plan, [0, 2 / 255, 8 / 255], steps=1,
                                  alpha_fraction=1.0)
    # eps 2/255 cannot cross 0.5 from 124/255 or 131/255 (4 grey levels away); 8/255 flips both
    assert [(p.eps, p.accuracy) for p in curve] == [(0.0, 0.8), (2 / 255, 0.8), (8 / 255, 0.4)]
    assert all(p.low < p.accuracy < p.high for p in curve)  # 5 images: wide Wilson intervals


def test_eps_figure(tmp_path):
    path = plot_accuracy_vs_eps(
        {"ResNet20": [(0, 0.75, 0.7, 0.8), (8 / 255, 0.46, 0.4, 0.5), (4 / 255, 0.6, 0.55, 0.65)],
         "En5": [(0, 0.82, 0.78, 0.86), (4 / 255, 0.7, 0.65, 0.75), (8 / 255, 0.51, 0.45, 0.56)]},
        tmp_path / "eps.png", mark_eps=8 / 255,
    )
    assert_drawn(path)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    return [
        str(save_model(folder / "plain", enresnet.create_model("resnet20"), dataset=SYNTHETIC)),
        str(save_model(folder / "noisy", enresnet.create_model("en1_resnet20"), dataset=SYNTHETIC)),
    ]


def test_plot_commands_run_the_real_attacks_on_checkpoints(tmp_path, checkpoints, capsys):
    examples = tmp_path / "fig6.png"
    assert main(["plot", "examples", *checkpoints, "--dataset", "synthetic", "--attacks", "fgsm,ifgsm2",
                 "--count", "2", "--out", str(examples)]) == 0  # fmt: skip
    assert_drawn(examples)
    curve = tmp_path / "eps.png"
    assert main(["plot", "eps-curve", *checkpoints, "--dataset", "synthetic", "--eps", "0,8/255", "--steps", "2",
                 "--limit", "8", "--out", str(curve)]) == 0  # fmt: skip
    assert_drawn(curve)
    out = capsys.readouterr().out
    assert "resnet20: eps 0: " in out and "en1_resnet20: eps 0: " in out and "eps 0.03137: " in out


def test_plot_commands_report_user_errors(tmp_path, checkpoints, capsys):
    assert main(["plot", "examples", *checkpoints, "--dataset", "synthetic", "--attacks", "nope",
                 "--out", str(tmp_path / "x.png")]) == 2  # fmt: skip
    assert "unknown attack 'nope'" in capsys.readouterr().err
    assert main(["plot", "eps-curve", checkpoints[0], "--dataset", "synthetic", "--eps", "-1",
                 "--out", str(tmp_path / "y.png")]) == 2  # fmt: skip
    assert "--eps must be" in capsys.readouterr().err
    assert main(["plot", "eps-curve", str(tmp_path / "nothing"), "--dataset", "synthetic",
                 "--out", str(tmp_path / "z.png")]) == 2  # fmt: skip
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("flags, steps", [
    ([], {2 / 255: 0.5 / 255, 8 / 255: 2 / 255}),  # eps / 4 at each eps, as the paper's 2/255 at 8/255
    (["--alpha", "1/255"], {2 / 255: 1 / 255, 8 / 255: 1 / 255}),  # a pixel step, the same at every eps
])
def test_eps_curve_alpha_is_a_pixel_step(tmp_path, checkpoints, monkeypatch, flags, steps):
    import enresnet.evaluate.figures as figures
    from enresnet.evaluate.figures import CurvePoint

    used = {}

    def measured(model, data, plan, eps_values, steps_, alpha_fraction):
        used.update({eps: alpha_fraction * eps for eps in eps_values if eps})
        return [CurvePoint(eps, 0.5, 0.4, 0.6) for eps in eps_values]

    monkeypatch.setattr(figures, "robust_accuracy_curve", measured)
    assert main(["plot", "eps-curve", checkpoints[0], "--dataset", "synthetic", "--eps", "0,2/255,8/255",
                 "--limit", "4", "--out", str(tmp_path / "c.png"), "--quiet", *flags]) == 0
    assert used == pytest.approx(steps)
