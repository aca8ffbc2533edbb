"""``enresnet reproduce``: the fmnist study end to end on a test-sized scale, and clear errors."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from enresnet.cli import main
from enresnet.reproduce import Reproduction, get_study

PNG = b"\x89PNG\r\n\x1a\n"


def micro_scale():
    """The study's ``tiny`` scale (its four models on 16x16 synthetic data), smaller still for CI."""
    tiny = get_study("fmnist").scale("tiny")
    overrides = {
        "data": {**tiny.overrides["data"], "val_size": 16, "options": {"num_samples": 80, "channels": 1, "size": 16}},
        "train": {**tiny.overrides["train"], "batch_size": 32},
        "validation": {"limit": 16, "attack_steps": 1},
    }
    return replace(tiny, name="micro", overrides=overrides, test_limit=4, transfer_limit=4, autoattack_limit=2,
                   autoattack_iterations={"n_iter": 1, "eot_iter": 1, "n_queries": 2}, sanity_limit=2,
                   sanity_steps=1, sanity_eot=(1, 2), eps_limit=4, eps_steps=1, repeats=2, examples=2)


def table_numbers(markdown: str) -> list[float]:
    """Every number in the table rows (mean, std, worst) of a Markdown table."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| Model")]
    return [float(x) for row in rows for cell in row.split("|")[3:] for x in re.findall(r"\d+\.\d+", cell)]


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fmnist-micro")
    Reproduction(get_study("fmnist"), micro_scale(), out, progress=False).run()
    return out


def test_tables_hold_accuracies(study_dir):
    whitebox = json.loads((study_dir / "whitebox.json").read_text())
    assert [r["model"] for r in whitebox["rows"]] == [m.label for m in get_study("fmnist").models]
    for row in whitebox["rows"]:
        assert set(row["accuracy"]) == {"clean", "fgsm", "ifgsm20", "cw", "autoattack"}
        assert all(0 <= a["mean"] <= 1 for a in row["accuracy"].values())
        assert row["sanity"]
    transfer = json.loads((study_dir / "transfer.json").read_text())
    assert [(r["model"], r["oracle"]) for r in transfer["rows"]] == [("ResNet20", "En2ResNet20"),
                                                                    ("En2ResNet20", "ResNet20")]
    for name in ("whitebox.md", "transfer.md"):
        numbers = table_numbers((study_dir / name).read_text())
        assert numbers and all(0 <= x <= 100 for x in numbers)


def test_figures_and_results(study_dir):
    for name in ("fig5_training.png", "eps_curve.png", "fig6_examples.png"):
        assert (study_dir / "figures" / name).read_bytes()[:8] == PNG
    results = (study_dir / "results.md").read_text()
    for needle in ("enresnet reproduce fmnist --scale micro", "seed: 0", "machine:", "wall time:", "torch",
                   "A_rob (IFGSM^20)", "Oracle", "fig6_examples.png"):
        assert needle in results
    numbers = table_numbers(results)
    assert numbers and all(0 <= x <= 100 for x in numbers)


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
