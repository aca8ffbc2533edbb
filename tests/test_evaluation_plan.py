"""One evaluation pipeline: the budget rule at every entry point, randomness measured, the plan's notes."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import enresnet
from enresnet.checkpoint import load_model, save_model
from enresnet.cli import main
from enresnet.data import dataset_name, load_dataset, to_float
from enresnet.errors import ConfigError, EnresnetError
from enresnet.evaluate import (
    DEFAULT_ATTACKS,
    AttackSettings,
    Check,
    Row,
    SanitySuite,
    build_attack,
    evaluate_model,
    make_plan,
    resolve_budget,
    run_plan,
)
from enresnet.evaluate.budget import scaled_alpha
from enresnet.evaluate.tables import NOT_TO_REPORT, markdown
from enresnet.models.randomness import measure_randomness

FMNIST = {"name": "fashion_mnist", "data_dir": None, "options": {}, "num_classes": 10}
SYNTH_OPTIONS = {"num_samples": 16, "num_classes": 10, "channels": 3, "size": 8, "noise": 0.3}
SYNTH = {"name": "synthetic", "options": SYNTH_OPTIONS, "num_classes": 10}
PGD = {"eps": 0.05, "alpha": 0.005, "steps": 10}


def checkpoint(path, dataset, method, channels):
    """A checkpoint as the trainer writes it: the attack budget only for adversarial training."""
    torch.manual_seed(0)
    model = enresnet.create_model("resnet8", in_channels=channels)
    meta = {"dataset": dataset, "method": method, "epoch": 1}
    if method != "natural":
        meta["attack"] = PGD
    return str(save_model(path, model, **meta))


# ---------------------------------------------------------------------------------------------- budget rule
@pytest.mark.parametrize("dataset,convention", [("fashion_mnist", (0.1, 0.01)), ("cifar10", (8 / 255, 2 / 255)),
                                                ("synthetic", (8 / 255, 2 / 255))])
def test_budget_rule(tmp_path, dataset, convention):
    info = {"name": dataset, "options": {}}
    natural = load_model(checkpoint(tmp_path / "nat", info, "natural", 1))
    pgd = load_model(checkpoint(tmp_path / "pgd", info, "pgd", 1))
    assert (resolve_budget(dataset).eps, resolve_budget(dataset).alpha) == pytest.approx(convention)
    assert resolve_budget(dataset, model=natural).source == "convention"
    trained = resolve_budget(dataset, model=pgd)
    assert (trained.eps, trained.alpha, trained.source) == (PGD["eps"], PGD["alpha"], "checkpoint")
    given = resolve_budget(dataset, eps=2 * convention[0], model=pgd)
    assert (given.eps, given.alpha, given.source) == pytest.approx((2 * convention[0], 2 * convention[1], "given"))
    other = "cifar100" if dataset != "cifar100" else "cifar10"
    assert resolve_budget(other, model=pgd).source == "convention"  # trained on another dataset


def test_one_step_size_rule_for_every_eps_an_attack_is_made_at():
    """A given eps without alpha, the sanity sweep (AttackSettings.at_eps) and the figures' eps curve all keep
    alpha : eps as the budget's one rule (scaled_alpha) does."""
    for dataset in ("fashion_mnist", "cifar10"):
        base = resolve_budget(dataset)
        for eps in (0.003, 8 / 255, 0.3):
            rule = scaled_alpha(eps, base.eps, base.alpha)
            assert resolve_budget(dataset, eps=eps).alpha == rule
            assert AttackSettings(eps=base.eps, alpha=base.alpha).at_eps(eps) == AttackSettings(eps=eps, alpha=rule)
    assert scaled_alpha(16 / 255, 8 / 255, 2 / 255) == pytest.approx(4 / 255)


def test_a_legacy_natural_checkpoint_with_a_recorded_budget_is_still_natural(tmp_path):
    torch.manual_seed(0)
    path = save_model(tmp_path / "old", enresnet.create_model("resnet8", in_channels=1), method="natural",
                      dataset={**FMNIST, "eps": 8 / 255, "alpha": 2 / 255})  # as the trainer wrote it before
    assert resolve_budget("fashion_mnist", model=load_model(path)).eps == 0.1
    legacy_pgd = save_model(tmp_path / "old_pgd", enresnet.create_model("resnet8", in_channels=1), method="pgd",
                            dataset={**FMNIST, "eps": 0.05, "alpha": 0.005})
    assert resolve_budget("fmnist", model=load_model(legacy_pgd)).eps == 0.05


def test_the_trainer_records_an_attack_budget_only_for_adversarial_training(tmp_path):
    from enresnet.train import train

    from helpers import tiny_config

    for method in ("natural", "pgd"):
        config = tiny_config(model={"name": "resnet8"}, train={"method": method, "epochs": 1},
                             data={"val_size": 16, "options": {"num_samples": 48, "size": 8}})
        train(config, tmp_path / method, quiet=True)
        meta = load_model(tmp_path / method / "best").checkpoint_meta
        assert ("attack" in meta) == (method == "pgd") and "eps" not in meta["dataset"]
    assert resolve_budget("synthetic", model=load_model(tmp_path / "natural" / "best")).source == "convention"
    assert resolve_budget("synthetic", model=load_model(tmp_path / "pgd" / "best")).source == "checkpoint"
    pgd = load_model(tmp_path / "pgd" / "best")
    data = load_dataset("synthetic", train=False, num_samples=8, size=8)
    result = evaluate_model(pgd, to_float(data.images), data.labels, "fgsm", sanity_size=0, repeats=1, eot=1)
    run_id = pgd.checkpoint_meta["run_id"]
    assert f"checkpoint of run {run_id[:8]}, epoch 1, pgd training" in " ".join(result.notes)  # a swapped file shows


def test_dataset_aliases_and_unknown_names():
    for alias in ("fmnist", "Fashion-MNIST", "FASHION_MNIST", "fashionmnist"):
        assert dataset_name(alias) == "fashion_mnist"
        assert make_plan(alias, attacks="fgsm").budget.eps == 0.1
    for bad in ("", "mnist", "imagenet"):
        with pytest.raises(ConfigError, match="accepted names.*fmnist"):
            make_plan(bad, attacks="fgsm")
    with pytest.raises(ConfigError, match="dataset is not known"):
        make_plan(None, enresnet.create_model("resnet8"))


SHAPES = {"fashion_mnist": 1, "synthetic": 3}


@pytest.mark.parametrize("dataset", ["fashion_mnist", "synthetic"])
@pytest.mark.parametrize("method", ["natural", "pgd"])
def test_every_entry_point_resolves_the_same_eps(tmp_path, dataset, method, capsys):
    """evaluate_model, enresnet evaluate, transfer, plot examples and reproduce's plan: one eps."""
    info = FMNIST if dataset == "fashion_mnist" else SYNTH
    path = checkpoint(tmp_path / "ckpt", info, method, SHAPES[dataset])
    expected = PGD["eps"] if method == "pgd" else (0.1 if dataset == "fashion_mnist" else 8 / 255)
    model = load_model(path)
    data = load_dataset(dataset, train=False, **({} if dataset == "fashion_mnist" else SYNTH_OPTIONS))
    images, labels = to_float(data.images[:4]), data.labels[:4]
    api = evaluate_model(model, images, labels, "fgsm", sanity_size=0, eot=1, repeats=1)
    assert api.plan.budget.eps == pytest.approx(expected)
    common = ["--attacks", "fgsm", "--limit", "4", "--repeats", "1", "--eot", "1", "--quiet"]
    assert main(["evaluate", path, *common, "--sanity-limit", "0", "--out", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "whitebox.json").read_text())["eps"] == pytest.approx(expected)
    assert main(["transfer", "--oracle", path, "--target", path, *common, "--out", str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t" / "transfer.json").read_text())["eps"] == pytest.approx(expected)
    assert main(["plot", "examples", path, "--attacks", "fgsm", "--count", "2", "--eot", "1",
                 "--out", str(tmp_path / "f.png")]) == 0
    assert f"eps = {expected:g}" in capsys.readouterr().out.replace("8/255", f"{8 / 255:g}")
    from enresnet.reproduce import Reproduction, get_study

    study = get_study("fmnist")
    rep = Reproduction(study, study.scale("tiny"), tmp_path / "r")
    assert rep.plan(model, data, ("fgsm",)).budget.eps == pytest.approx(expected)


# -------------------------------------------------------------------------------------- one table, any caller
def test_api_and_reproduce_give_the_same_row(tmp_path):
    from enresnet.reproduce import Reproduction, get_study

    torch.manual_seed(0)
    path = save_model(tmp_path / "ckpt", enresnet.create_model("en1_resnet8", in_channels=3), dataset=SYNTH,
                      method="pgd", attack=PGD)
    model = load_model(path)
    data = load_dataset("synthetic", train=False, **SYNTH_OPTIONS)
    study = get_study("fmnist")
    scale = replace(study.scale("tiny"), eot=2, repeats=2, batch_size=8, sanity_limit=0, test_limit=None)
    rep = Reproduction(replace(study, attacks=("fgsm", "ifgsm3"), autoattack=False), scale, tmp_path / "r",
                       progress=False)
    ours = rep.whitebox_result("en1_resnet8", model, data, tmp_path / "r" / "eval")
    api = evaluate_model(model, to_float(data.images), data.labels, ["fgsm", "ifgsm3"], eot=2, repeats=2,
                         batch_size=8, sanity_size=0)
    assert ours.row().as_dict()["accuracy"] == api.row().as_dict()["accuracy"]
    assert ours.notes == api.notes


# ------------------------------------------------------------------------------------------- randomness
class RandomResizePad(nn.Module):
    """A randomized input transformation (Xie et al. 2018): resize to a random size, pad at a random place."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        size = x.shape[-1]
        new = int(torch.randint(size - 2, size + 1, ()))
        resized = F.interpolate(x, size=new, mode="nearest")
        left, top = (int(v) for v in torch.randint(0, size - new + 1, (2,)))
        return self.model(F.pad(resized, (left, size - new - left, top, size - new - top)))


class DropoutAtTestTime(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(F.dropout(x, 0.2, training=True))  # on in eval mode too (MC dropout)


class GaussianInput(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model((x + 0.05 * torch.randn_like(x)).clamp(0, 1))


@pytest.mark.parametrize("wrap", [RandomResizePad, DropoutAtTestTime, GaussianInput])
def test_any_randomized_model_is_evaluated_as_stochastic(wrap):
    torch.manual_seed(0)
    data = load_dataset("synthetic", train=False, **SYNTH_OPTIONS)
    model = wrap(enresnet.create_model("resnet8")).eval()
    assert measure_randomness(model, to_float(data.images)).stochastic
    sizes = []
    hook = model.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    result = evaluate_model(model, to_float(data.images), data.labels, "fgsm,ifgsm2", dataset="synthetic", eot=3,
                            repeats=3, sanity_size=0, batch_size=16)
    hook.remove()
    assert result.randomness.stochastic and f"{type(model).__name__} is stochastic" in " ".join(result.notes)
    assert build_attack("fgsm", model, result.plan.settings, result.randomness.stochastic).draws == 3
    assert sizes.count(48) == 1 + 2  # EOT: 3 draws x 16 images in one pass, for FGSM's and IFGSM^2's gradients
    # 16-image passes: 4 probes (randomness measured once per evaluation), 3 predictions per column
    assert sizes.count(16) == 4 + 3 * 3


def test_a_plain_resnet_is_deterministic_and_a_declared_deterministic_model_that_varies_is_not():
    torch.manual_seed(0)
    data = load_dataset("synthetic", train=False, **SYNTH_OPTIONS)
    images = to_float(data.images)
    plain = evaluate_model(enresnet.create_model("resnet8").eval(), images, data.labels, "fgsm", dataset="synthetic",
                           sanity_size=0)
    assert not plain.randomness.stochastic and "resnet8 is deterministic" in " ".join(plain.notes)
    assert all(stats.repeats == 5 and stats.std == 0 for stats in plain.results.values())
    noisy = GaussianInput(enresnet.create_model("resnet8")).eval()
    declared = evaluate_model(noisy, images, data.labels, "fgsm", dataset="synthetic", sanity_size=0,
                              stochastic=False)
    assert declared.randomness.stochastic and "declared deterministic, but it varies" in " ".join(declared.notes)


# --------------------------------------------------------------------------- defaults, AutoAttack, sanity
def test_the_default_attacks_include_apgd_and_the_notes_name_autoattack_strength():
    assert {"apgd-ce100", "apgd-dlr100"} <= set(DEFAULT_ATTACKS) and {"fgsm", "ifgsm20", "cw"} <= set(DEFAULT_ATTACKS)
    plan = make_plan("synthetic", attacks="autoattack", autoattack_iterations=7, autoattack_eot=3)
    from enresnet.models.randomness import Randomness

    notes = " ".join(plan.notes(10, Randomness(True, 0.1, 10, 4), 0))
    assert "7 iterations" in notes and "EOT 3" in notes and "REDUCED" in notes
    attack = build_attack("autoattack", enresnet.create_model("en1_resnet8"), plan.settings, True)
    assert (attack.n_iter, attack.draws, attack.version()) == (7, 3, "rand")
    full = make_plan("synthetic", attacks="autoattack")
    assert "full strength" in " ".join(full.notes(10, Randomness(True, 0.1, 10, 4), 0))


def test_the_automatic_sanity_suite_costs_no_more_than_the_attacks():
    for attacks in ("fgsm", "fgsm,ifgsm20,cw", ",".join(DEFAULT_ATTACKS)):
        plan = make_plan("synthetic", attacks=attacks)
        for n in (16, 100, 1000):
            for stochastic in (False, True):
                size = plan.sanity_images(n, stochastic, surrogate=False)
                cost = size * SanitySuite.passes_per_image(plan.sanity_settings(), plan.settings, stochastic, False)
                assert 0 <= size <= min(n, 200) and cost <= plan.attack_passes(n, stochastic)
    assert make_plan("synthetic", sanity_size=7).sanity_images(100, True, False) == 7


def test_a_row_with_a_failed_sanity_check_is_marked_not_to_report():
    from enresnet.evaluate import AccuracyStats

    stats = AccuracyStats.from_correct(torch.tensor([[True, False, True, True]]))
    flagged = Row("m", "synthetic", {"clean": stats, "fgsm": stats}, sanity=[Check("eps-sweep", False, {}, "x")])
    text = markdown([flagged], ["fgsm"], [])
    assert NOT_TO_REPORT in text and "**" not in text.splitlines()[2] and not flagged.reportable
    assert flagged.as_dict()["reportable"] is False
    ok = Row("m", "synthetic", {"clean": stats, "fgsm": stats}, sanity=[Check("eps-sweep", True, {}, "x")])
    assert "**75.00**" in markdown([ok], ["fgsm"], []) and ok.reportable


def test_the_eps_curve_attacks_a_stochastic_model_with_eot():
    from enresnet.evaluate.figures import robust_accuracy_curve

    torch.manual_seed(0)
    data = load_dataset("synthetic", train=False, **SYNTH_OPTIONS)
    model = enresnet.create_model("en1_resnet8").eval()
    plan = make_plan("synthetic", attacks=[], eot=3, repeats=2, batch_size=8)
    seen = []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    curve = robust_accuracy_curve(model, data, plan, [0, 8 / 255], steps=1)
    hook.remove()
    assert [p.eps for p in curve] == [0, 8 / 255] and 24 in seen  # 3 EOT draws x 8 images in one pass
    assert all(p.low <= p.accuracy <= p.high for p in curve)


def test_run_plan_refuses_what_is_not_a_model():
    plan = make_plan("synthetic", attacks="fgsm")
    data = load_dataset("synthetic", train=False, **SYNTH_OPTIONS)
    with pytest.raises(EnresnetError, match="model must be a torch.nn.Module"):
        run_plan(plan, None, data)
