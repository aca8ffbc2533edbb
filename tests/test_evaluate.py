"""Evaluation: repeats/worst-case accuracy, the resumable runner, AutoAttack's multi-draw re-check, the CLI."""

import json

import pytest
import torch

import enresnet
from enresnet.attacks import IFGSM
from enresnet.checkpoint import save_model
from enresnet.cli import main
from enresnet.data import load_dataset, to_float
from enresnet.evaluate import AccuracyStats, AutoAttack, RunSettings, attacked_accuracy, correct_draws, run_evaluation

from helpers import trained_linear

SYNTH = {"num_samples": 40, "num_classes": 10, "channels": 3, "size": 8, "noise": 0.3}


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", train=False, **SYNTH)


def test_stats_mean_std_over_draws_and_worst_case():
    correct = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)  # 2 draws x 3 images
    stats = AccuracyStats.from_correct(correct)
    assert stats.mean == pytest.approx(0.5)
    assert stats.std == pytest.approx(((1 / 6) ** 2 * 2) ** 0.5)  # sample std of 2/3 and 1/3
    assert stats.worst == pytest.approx(1 / 3)  # only image 0 is right in every draw


def test_deterministic_model_is_predicted_once_noisy_model_every_time():
    calls = []
    for name, stochastic, expected in (("resnet8", False, 1), ("en1_resnet8", True, 4)):
        net = enresnet.create_model(name).eval()
        hook = net.register_forward_hook(lambda *a: calls.append(1))
        images, labels = torch.rand(3, 3, 8, 8), torch.zeros(3, dtype=torch.long)
        correct = correct_draws(net, images, labels, repeats=4, stochastic=stochastic)
        assert correct.shape == (4, 3) and len(calls) == expected
        calls.clear()
        correct_draws(net, images, labels, repeats=4)  # not given: measured (4 probe passes) unless noise is on
        hook.remove()
        assert len(calls) == (4 if stochastic else 4 + 1)
        calls.clear()


def counting_run(net, attack, data, settings, out_dir, stop_at=None):
    computed = []

    def on_batch(index, record):
        computed.append(index)
        if index == stop_at:
            raise KeyboardInterrupt

    return run_evaluation("ifgsm", net, attack, data, settings, out_dir, progress=False, on_batch=on_batch), computed


def test_interrupted_run_resumes_without_recomputing_and_matches_an_uninterrupted_one(tmp_path, data, noisy_net):
    net = noisy_net
    attack = IFGSM(net, steps=2, eot_samples=2)
    settings = RunSettings(batch_size=8, repeats=3, seed=5)
    full, computed = counting_run(net, attack, data, settings, tmp_path / "a")
    assert computed == [0, 1, 2, 3, 4]
    with pytest.raises(KeyboardInterrupt):
        counting_run(net, attack, data, settings, tmp_path / "b", stop_at=2)
    torch.manual_seed(123)  # a different global RNG state must not matter
    resumed, computed = counting_run(net, attack, data, settings, tmp_path / "b")
    assert computed == [3, 4]
    assert resumed == full
    assert full.std > 0  # noisy predictions: the equality above is not trivial
    again, computed = counting_run(net, attack, data, settings, tmp_path / "b")
    assert computed == [] and again == full


def test_other_settings_never_mix_with_logged_results(tmp_path, data):
    net = enresnet.create_model("resnet8").eval()
    attack = IFGSM(net, steps=1)
    counting_run(net, attack, data, RunSettings(batch_size=8), tmp_path)
    _, computed = counting_run(net, IFGSM(net, steps=2), data, RunSettings(batch_size=8), tmp_path)
    assert computed == [0, 1, 2, 3, 4]
    _, computed = counting_run(net, attack, data, RunSettings(batch_size=8, seed=1), tmp_path)
    assert computed == [0, 1, 2, 3, 4]
    assert len(list(tmp_path.glob("ifgsm-*.jsonl"))) == 3


def test_a_torn_last_line_is_dropped_and_its_batch_recomputed(tmp_path, data):
    net = enresnet.create_model("resnet8").eval()
    attack = IFGSM(net, steps=1)
    settings = RunSettings(batch_size=8)
    full, _ = counting_run(net, attack, data, settings, tmp_path)
    (log,) = tmp_path.glob("*.jsonl")
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:4]) + "\n" + lines[4][:10])  # header + batches 0-2, batch 3 torn
    resumed, computed = counting_run(net, attack, data, settings, tmp_path)
    assert computed == [3, 4] and resumed == full
    assert len(log.read_text().splitlines()) == 6


@pytest.fixture(scope="module")
def noisy_net():
    """A linear classifier of the synthetic task with noise on its logits."""
    return trained_linear(0.5)


def test_autoattack_multi_draw_recheck_beats_single_draw_bookkeeping(noisy_net):
    """pyautoattack judges 'fooled' from one draw of a noisy model and keeps weak examples;
    judged with fresh draws, the wrapper's examples must be clearly stronger."""
    pyautoattack = pytest.importorskip("pyautoattack")
    net = noisy_net
    test = load_dataset("synthetic", train=False, **dict(SYNTH, num_samples=64))
    x, y = to_float(test.images), test.labels
    eps = 16 / 255
    torch.manual_seed(1)
    ours = AutoAttack(net, eps=eps, n_iter=20, eot_iter=5)(x, y)
    torch.manual_seed(1)
    plain = pyautoattack.AutoAttack(net, norm="Linf", eps=eps, version="rand", seed=0)
    plain.apgd.n_iter, plain.apgd.eot_iter = 20, 5
    theirs, _ = plain.run_standard_evaluation(x, y, batch_size=64)
    acc_ours = AccuracyStats.from_correct(correct_draws(net, ours, y, 30))
    acc_theirs = AccuracyStats.from_correct(correct_draws(net, theirs, y, 30))
    assert acc_ours.mean < acc_theirs.mean - 0.1
    assert acc_ours.worst <= acc_theirs.worst
    assert (ours - x).abs().max() <= eps + 1e-6


def test_autoattack_picks_rand_for_noisy_and_standard_for_deterministic_models():
    images = torch.rand(4, 3, 8, 8)
    for name, version in (("en1_resnet8", "rand"), ("resnet8", "standard")):
        attack = AutoAttack(enresnet.create_model(name).eval())
        attack.decide_randomness(images)  # measured: noise on in eval mode, or not
        assert attack.version() == version
    with pytest.raises(ValueError, match="rand"):
        AutoAttack(enresnet.create_model("en1_resnet8"), version="standard", stochastic=True).version()


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    net = enresnet.create_model("resnet8")
    return save_model(tmp_path / "ckpt", net, dataset={"name": "synthetic", "options": SYNTH})


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_evaluate_command_writes_the_table_with_sanity_flags(tmp_path, checkpoint, capsys, data):
    out = tmp_path / "eval"
    args = ["evaluate", str(checkpoint), "--attacks", "fgsm,ifgsm3,cw", "--eot", "2", "--repeats", "2",
            "--limit", "16", "--batch-size", "8", "--sanity-limit", "8", "--out", str(out), "--quiet"]
    code, stdout, _ = run_cli(args, capsys)
    assert code == 0
    table = json.loads((out / "whitebox.json").read_text())
    (row,) = table["rows"]
    assert (row["model"], row["dataset"]) == ("resnet8", "synthetic")
    assert set(row["accuracy"]) == {"clean", "fgsm", "ifgsm3", "cw"}
    net = enresnet.checkpoint.load_model(checkpoint)
    first16 = data.subset(torch.arange(16))
    assert row["accuracy"]["clean"]["mean"] == attacked_accuracy(net, first16, None).mean
    assert {c["name"] for c in row["sanity"]} == {"eps-sweep", "iterations", "transfer", "eot", "random-noise"}
    # 8 images: no comparison has the power to fail (slack 2/8 > 15 points), so none may read "ok"
    assert all(c["flag"] in ("too few images", "FLAG", "n/a") for c in row["sanity"])
    assert any(c["flag"] == "too few images" for c in row["sanity"])
    headline = row["robust_worst_case"]["mean"]
    assert all(headline <= row["accuracy"][k]["worst"] <= row["accuracy"][k]["mean"] for k in row["accuracy"])
    assert table["eps"] == pytest.approx(8 / 255) and "8/255" in " ".join(table["notes"])
    markdown = (out / "whitebox.md").read_text()
    assert ("| Model | dataset | A_nat | A_rob worst case [95% CI] | A_rob (FGSM) | A_rob (IFGSM^3) | A_rob (C&W) "
            "| sanity |") in markdown
    assert "Sanity checks for resnet8" in markdown and markdown.strip() in stdout
    # rerun: every batch comes from the logs, the table is the same
    code, _, _ = run_cli(args, capsys)
    assert code == 0 and json.loads((out / "whitebox.json").read_text())["rows"] == table["rows"]


def test_evaluate_integrate_and_transfer_commands(tmp_path, checkpoint, capsys):
    torch.manual_seed(1)
    other = save_model(tmp_path / "noisy", enresnet.create_model("en1_resnet8"),
                       dataset={"name": "synthetic", "options": SYNTH})
    common = ["--attacks", "fgsm", "--eot", "2", "--repeats", "2", "--limit", "8", "--quiet"]
    code, stdout, _ = run_cli(["evaluate", str(checkpoint), str(other), "--integrate", "--sanity-limit", "0",
                               "--out", str(tmp_path / "w"), *common], capsys)
    assert code == 0 and "integrate(resnet8 + en1_resnet8)" in stdout
    code, stdout, _ = run_cli(["transfer", "--oracle", str(other), "--target", str(checkpoint),
                               "--out", str(tmp_path / "t"), *common], capsys)
    assert code == 0
    (row,) = json.loads((tmp_path / "t" / "transfer.json").read_text())["rows"]
    assert (row["model"], row["oracle"]) == ("resnet8", "en1_resnet8")
    assert "| Model | dataset | Oracle | A_rob worst case [95% CI] | A_rob (FGSM) | sanity |" in stdout


def test_user_errors_exit_2_with_a_helpful_message(tmp_path, checkpoint, capsys):
    code, _, err = run_cli(["evaluate", str(checkpoint), "--attacks", "fgsm,bim", "--out", str(tmp_path)], capsys)
    assert code == 2 and "valid attacks: fgsm, ifgsm[N], pgd[N], cw, cwinf[N], apgd-ce[N], apgd-dlr[N], " \
        "autoattack" in err
    code, _, err = run_cli(["evaluate", str(tmp_path / "missing"), "--out", str(tmp_path)], capsys)
    assert code == 2 and "does not exist" in err
    five = save_model(tmp_path / "five", enresnet.create_model("resnet8", num_classes=5),
                      dataset={"name": "synthetic", "options": SYNTH})
    code, _, err = run_cli(["evaluate", str(five), "--out", str(tmp_path)], capsys)
    assert code == 2 and "has 5 classes but synthetic has 10" in err


def test_models_evaluated_one_after_another_share_the_table_of_one_out(tmp_path, checkpoint, capsys):
    torch.manual_seed(2)
    other = save_model(tmp_path / "noisy", enresnet.create_model("en1_resnet8"),
                       dataset={"name": "synthetic", "options": SYNTH})
    out = tmp_path / "eval"
    common = ["--attacks", "fgsm", "--eot", "2", "--repeats", "2", "--limit", "8", "--sanity-limit", "0",
              "--out", str(out), "--quiet"]
    assert main(["evaluate", str(checkpoint), *common]) == 0
    first = json.loads((out / "whitebox.json").read_text())["rows"]
    assert main(["evaluate", str(other), *common]) == 0
    rows = json.loads((out / "whitebox.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["resnet8", "en1_resnet8"] and rows[0] == first[0]
    # other settings into the same table: refused before any work
    code, _, err = run_cli(["evaluate", str(other), *common, "--eps", "4/255"], capsys)
    assert code == 2 and "holds a table made with other settings (eps" in err
    assert json.loads((out / "whitebox.json").read_text())["rows"] == rows


def test_evaluate_defaults_to_the_checkpoints_training_eps(tmp_path, capsys):
    torch.manual_seed(0)
    path = save_model(tmp_path / "ckpt", enresnet.create_model("resnet8"), method="pgd",
                      dataset={"name": "synthetic", "options": SYNTH}, attack={"eps": 4 / 255, "alpha": 1 / 255})
    out = tmp_path / "eval"
    assert main(["evaluate", str(path), "--attacks", "fgsm", "--limit", "8", "--sanity-limit", "0",
                 "--out", str(out), "--quiet"]) == 0
    table = json.loads((out / "whitebox.json").read_text())
    assert table["eps"] == pytest.approx(4 / 255) and table["alpha"] == pytest.approx(1 / 255)
    assert "the checkpoint's adversarial-training budget" in " ".join(table["notes"])
