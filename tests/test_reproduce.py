"""``enresnet reproduce``: the fmnist study end to end on a test-sized scale, and clear errors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from matplotlib.image import imread

from enresnet.cli import main
from enresnet.config import settings
from enresnet.reproduce import Reproduction, get_study
from enresnet.reproduce.studies import HEADLINE


def micro_scale():
    """The study's ``tiny`` scale (its models but En5ResNet20, on 16x16 synthetic data), smaller still for CI."""
    tiny = get_study("fmnist").scale("tiny")
    overrides = (*tiny.overrides, *settings(
        data={"val_size": 16, "options": {"num_samples": 80, "channels": 1, "size": 16}}, train={"batch_size": 32},
        validation={"limit": 16, "attack_steps": 1}))
    return replace(tiny, name="micro", overrides=overrides, test_limit=4, transfer_limit=4, autoattack_limit=2,
                   autoattack_iterations=1, autoattack_eot=1, autoattack_queries=2,
                   sanity_limit=2, sanity_steps=1, sanity_eot=(1, 2), eps_limit=4, eps_steps=1, repeats=2, examples=2)


def first_table(markdown: str) -> list[str]:
    """The rows of the first Markdown table whose header starts with ``| Model``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Model"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def assert_counts_shown(row: dict, lines: list[str]) -> None:
    """Each accuracy of a table row is a count of right predictions (of n images x repeats), its worst
    case (right in every draw) is at most its mean, and the Markdown row shows it in %."""
    (line,) = [line for line in lines if line.startswith(f"| {row['model']} |")]
    for attack, a in row["accuracy"].items():
        right = a["mean"] * a["n"] * a["repeats"]
        assert abs(right - round(right)) < 1e-6 and a["worst"] <= a["mean"] + 1e-9, (attack, a)
        assert f"{100 * a['mean']:.2f}" in line, (attack, a, line)


def assert_drawn(path) -> None:
    """A PNG that matplotlib reads, with more than a blank canvas: many distinct colours."""
    pixels = imread(path)[..., :3].reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fmnist-micro")
    Reproduction(get_study("fmnist"), micro_scale(), out, progress=False).run()
    return out


def test_tables_hold_accuracies(study_dir):
    whitebox = json.loads((study_dir / "whitebox.json").read_text())
    study = get_study("fmnist")
    assert [r["model"] for r in whitebox["rows"]] == [m.label for m in study.models if m.key != "en5_resnet20"]
    markdown = {name: first_table((study_dir / f"{name}.md").read_text())
                for name in ("whitebox", "transfer", "natural")}
    for row in whitebox["rows"]:
        assert set(row["accuracy"]) == {"clean", "fgsm", "ifgsm20", "cw", "autoattack"}
        assert_counts_shown(row, markdown["whitebox"])
        assert row["sanity"]
    transfer = json.loads((study_dir / "transfer.json").read_text())
    assert [(r["model"], r["oracle"]) for r in transfer["rows"]] == [("ResNet20", "En2ResNet20"),
                                                                    ("En2ResNet20", "ResNet20")]
    for row in transfer["rows"]:
        assert_counts_shown(row, markdown["transfer"])
    natural = json.loads((study_dir / "natural.json").read_text())
    assert [r["model"] for r in natural["rows"]] == [m.label for m in study.natural_models]
    for row in natural["rows"]:
        assert set(row["accuracy"]) == {"clean", "fgsm", "ifgsm20"}
        assert_counts_shown(row, markdown["natural"])


def test_claims_judged_on_the_tables(study_dir):
    """Every claim on a model the scale ran is judged, on the accuracies the tables show (mean over draws,
    on the images both sides share), with Holm-adjusted p-values no smaller than the raw ones."""
    claims = json.loads((study_dir / "claims.json").read_text())
    judged = [c for c in get_study("fmnist").claims if "en5_resnet20" not in repr(c) and HEADLINE not in repr(c)]
    assert len(claims) == len(judged)
    for claim in claims:
        assert claim["verdict"] in ("holds", "does not hold", "cannot tell at this size")
        if claim["p_value"] is not None:
            assert 0 < claim["p_value"] <= claim["p_holm"] <= 1
    (noise,) = [c for c in claims if c["measures"] == ["whitebox:en1_resnet20:ifgsm20", "whitebox:resnet20:ifgsm20"]]
    rows = {r["model"]: r["accuracy"]["ifgsm20"] for r in json.loads((study_dir / "whitebox.json").read_text())["rows"]}
    assert noise["accuracy"] == pytest.approx([rows["En1ResNet20"]["mean"], rows["ResNet20"]["mean"]])
    assert "noise raises robust accuracy" in (study_dir / "results.md").read_text()


def test_figures_and_results(study_dir):
    for name in ("fig5_training.png", "eps_curve.png", "fig6_examples.png"):
        assert_drawn(study_dir / "figures" / name)
    results = (study_dir / "results.md").read_text()
    for needle in ("enresnet reproduce fmnist --scale micro", "seed: 0", "machine:", "wall time:", "torch",
                   "A_rob (IFGSM^20)", "Oracle", "fig6_examples.png"):
        assert needle in results
    whitebox = json.loads((study_dir / "whitebox.json").read_text())
    for row in whitebox["rows"]:
        assert_counts_shown(row, first_table(results.split("## White-box")[-1]))  # results.md holds the tables


def test_rerun_skips_finished_work(study_dir):
    """A rerun trains nothing and recomputes no batch: the logs and checkpoints stay as they were."""
    before = {p: p.stat().st_mtime_ns for p in study_dir.rglob("*") if p.suffix in (".safetensors", ".jsonl")}
    Reproduction(get_study("fmnist"), micro_scale(), study_dir, progress=False).run()
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert len(json.loads((study_dir / "timing.json").read_text())) == 2


def test_cifar_study_without_data_fails_fast(tmp_path, capsys):
    code = main(["reproduce", "cifar10-table2", "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "cifar10 is not in" in err and "cifar-10-python.tar.gz" in err


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "cifar11"], "unknown study 'cifar11'"),
    (["reproduce", "cifar10-table2", "--scale", "smoke"], "has no scale 'smoke'"),
])
def test_clear_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
