"""A study of methods (``reproduce --seeds``): every seed its own run, the claims judged across seeds."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from enresnet.cli import main
from enresnet.errors import ConfigError
from enresnet.evaluate.accuracy import AccuracyStats
from enresnet.evaluate.paired import CANNOT_TELL
from enresnet.evaluate.protocol import DEFAULT_ATTACKS
from enresnet.reproduce import Reproduction, SeedStudy, get_study, studies
from enresnet.reproduce.claims import lookup
from enresnet.reproduce.seeds import judge_seeds
from enresnet.reproduce.studies import HEADLINE, Measure
from tests.test_reproduce import micro_scale

KEPT = ("resnet20", "en1_resnet20")


def stats(correct: list[list[int]]) -> AccuracyStats:
    """Accuracy of a (draws, images) 0/1 matrix."""
    return AccuracyStats.from_correct(torch.tensor(correct, dtype=torch.bool))


def test_headline_needs_every_default_attack():
    right, wrong_last = stats([[1, 1, 1, 1]]), stats([[1, 1, 1, 0]])
    row = {"clean": right, **{a: right for a in DEFAULT_ATTACKS}, "cw": wrong_last}
    results = {"whitebox": {"resnet20": row}}
    headline = lookup(results, Measure("whitebox", "resnet20", HEADLINE))
    assert headline.mean == 0.75 and headline.per_image.tolist() == [1, 1, 1, 0]
    del row["apgd-dlr100"]
    assert lookup(results, Measure("whitebox", "resnet20", HEADLINE)) is None


def test_claims_judged_across_seeds_by_hand():
    """Per seed the difference is the mean per-image score difference (a noisy model's score: the fraction of
    right draws); across seeds the t-interval of those differences."""
    study = get_study("fmnist")
    per_seed = {
        0: {"whitebox": {"en1_resnet20": {"ifgsm20": stats([[1, 1, 0, 0], [1, 0, 0, 0]])},   # scores 1, .5, 0, 0
                         "resnet20": {"ifgsm20": stats([[1, 0, 0, 0]])}}},                      # scores 1, 0, 0, 0
        1: {"whitebox": {"en1_resnet20": {"ifgsm20": stats([[1, 1, 1, 0], [1, 1, 1, 0]])},
                         "resnet20": {"ifgsm20": stats([[1, 1, 0, 0]])}}},
        2: {"whitebox": {"en1_resnet20": {"ifgsm20": stats([[0, 0, 0, 0], [0, 0, 0, 0]])}}},  # no ResNet20: left out
    }
    (verdict,) = [v for v in judge_seeds(study, per_seed)
                  if v.measures == ("whitebox:en1_resnet20:ifgsm20", "whitebox:resnet20:ifgsm20")]
    # Seed 0: (1.5 - 1) / 4 = +12.5 points; seed 1: (3 - 2) / 4 = +25 points.
    assert verdict.seeds == (0, 1) and verdict.images == 4
    assert verdict.differences == pytest.approx((12.5, 25.0))
    assert verdict.mean == pytest.approx(18.75)
    half = 12.7062047 * (12.5 / 2 ** 0.5) / 2 ** 0.5  # t(0.975, 1) * sd / sqrt(2)
    assert verdict.interval_95 == pytest.approx((18.75 - half, 18.75 + half), abs=1e-4)
    assert verdict.paper_gap == 3.03 and verdict.excludes_paper_gap is False
    assert verdict.p_value <= verdict.p_holm <= 1


def seed_scale():
    """The micro scale as a 2-seed study of ResNet20 and En1ResNet20; FGSM on a subset, for seed 0 only."""
    micro = micro_scale()
    skip = tuple(m.key for m in (*get_study("fmnist").models, *get_study("fmnist").natural_models)
                 if m.key not in KEPT)
    return replace(micro, name="micro-seeds", attacks=("fgsm", "ifgsm20"), attack_limits={"fgsm": 2},
                   subset_seeds=(0,), seeds=(0, 1), transfer=False, figures=False, skip=skip, sanity_limit=0)


@pytest.fixture(scope="module")
def seeds_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fmnist-seeds")
    SeedStudy(get_study("fmnist"), seed_scale(), out, (0, 1), progress=False).run()
    return out


def test_every_seed_its_own_run(seeds_dir):
    """Seed s fixes the split and the initialisation: the seeds' runs differ, each records its seed."""
    configs = [json.loads((seeds_dir / f"seed-{s}" / "runs" / "resnet20" / "config.json").read_text())
               for s in (0, 1)]
    assert [(c["train"]["seed"], c["data"]["split_seed"]) for c in configs] == [(0, 0), (1, 1)]
    rows = [json.loads((seeds_dir / f"seed-{s}" / "whitebox.json").read_text())["rows"] for s in (0, 1)]
    assert [r["model"] for r in rows[0]] == ["ResNet20", "En1ResNet20"]
    # The subset attack runs for seed 0 only, on its first 2 images; IFGSM^20 on every test image.
    assert {a: v["n"] for a, v in rows[0][0]["accuracy"].items()} == {"clean": 4, "fgsm": 2, "ifgsm20": 4}
    assert set(rows[1][0]["accuracy"]) == {"clean", "ifgsm20"}
    assert not (seeds_dir / "seed-0" / "figures").exists() and not (seeds_dir / "seed-0" / "transfer.json").exists()


def test_claims_recompute_from_the_seeds_tables(seeds_dir):
    claims = json.loads((seeds_dir / "claims.json").read_text())
    (noise,) = [c for c in claims if c["measures"] == ["whitebox:en1_resnet20:ifgsm20", "whitebox:resnet20:ifgsm20"]]
    expected = []
    for s in (0, 1):
        rows = {r["model"]: r["accuracy"]["ifgsm20"]
                for r in json.loads((seeds_dir / f"seed-{s}" / "whitebox.json").read_text())["rows"]}
        expected.append(100 * (rows["En1ResNet20"]["mean"] - rows["ResNet20"]["mean"]))
    assert noise["seeds"] == [0, 1] and noise["differences"] == pytest.approx(expected)
    # FGSM ran for one seed only: no claim reads it across seeds.
    assert not any(m.endswith(":fgsm") for c in claims for m in c["measures"])
    models = json.loads((seeds_dir / "models.json").read_text())
    (clean,) = [m for m in models if m["model"] == "resnet20" and m["column"] == "clean"]
    assert clean["seeds"] == [0, 1] and clean["sd"] is not None
    results = (seeds_dir / "results.md").read_text()
    for needle in ("--seeds 0,1", "seeds with tables: 0, 1", "mean ± seed sd", "moved in the last epoch",
                   "noise raises robust accuracy"):
        assert needle in results


@pytest.mark.parametrize("text, seeds", [("0-4", (0, 1, 2, 3, 4)), ("3", (3,)), ("0,2,7", (0, 2, 7)),
                                         ("0-2,9", (0, 1, 2, 9))])
def test_seed_lists(text, seeds):
    from enresnet.cli.options import seed_list

    assert seed_list(text) == seeds


@pytest.mark.parametrize("value, message", [("4-0", "runs backwards"), ("0,0", "appears twice"), ("a", "integer"),
                                            ("0-", "expected seeds"), ("-1", "expected seeds"),
                                            ("0-5000", "at most 1000")])
def test_bad_seed_lists(value, message, capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "fmnist", "--scale", "seeds", "--seeds", value])
    assert message in capsys.readouterr().err


def test_seed_and_seeds_exclusive(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "fmnist", "--seed", "1", "--seeds", "0-4"])
    assert "not allowed with" in capsys.readouterr().err


def test_analyse_judges_the_tables_alone(seeds_dir, tmp_path):
    """``--analyse`` trains and evaluates nothing: from the per-seed tables and metrics alone (no checkpoint)
    it writes the same models and claims as the study that ran."""
    for s in (0, 1):
        seed = tmp_path / f"seed-{s}"
        seed.mkdir()
        shutil.copy(seeds_dir / f"seed-{s}" / "whitebox.json", seed)
        for key in KEPT:
            (seed / "runs" / key).mkdir(parents=True)
            shutil.copy(seeds_dir / f"seed-{s}" / "runs" / key / "metrics.jsonl", seed / "runs" / key)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["reproduce", "fmnist", "--scale", "seeds", "--seeds", "0,1", "--analyse", "--out",
                 str(tmp_path), "--quiet"]) == 0
    for name in ("claims.json", "models.json", "convergence.json"):
        assert json.loads((tmp_path / name).read_text()) == json.loads((seeds_dir / name).read_text()), name
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert sorted(set(written) - set(before)) == sorted(
        Path(n) for n in ("claims.json", "claims.md", "convergence.json", "models.json", "models.md", "results.md"))
    assert "analysed on:" in (tmp_path / "results.md").read_text()


@pytest.mark.parametrize("args, message", [(["--seed", "1"], "--seed names one run"),
                                           (["--scale", "medium"], "scale 'medium' has no seeds of its own"),
                                           (["--out", "missing"], "missing is not a directory"),
                                           (["--out", "."], ". holds no seed-*/whitebox.json")])
def test_analyse_refusals(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["reproduce", "fmnist", "--analyse", *args]
    if "--out" not in args:
        argv += ["--out", str(tmp_path)]
    if "--scale" not in args:
        argv += ["--scale", "seeds"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()


COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "runs" / "fmnist-seeds"


@pytest.mark.skipif(not (COMMITTED / "claims.json").is_file(), reason="no committed seed study")
def test_committed_seed_study_recomputes(tmp_path):
    """Every number of docs/runs/fmnist-seeds (models, claims, convergence) recomputes from its per-seed tables."""
    out = tmp_path / "study"
    shutil.copytree(COMMITTED, out, ignore=shutil.ignore_patterns("*.md", "run.sh", "device.sh"))
    assert main(["reproduce", "fmnist", "--scale", "seeds", "--analyse", "--out", str(out), "--quiet"]) == 0
    for name in ("claims.json", "models.json", "convergence.json"):
        assert json.loads((out / name).read_text()) == json.loads((COMMITTED / name).read_text()), name


def test_every_scale_makes_valid_configs():
    """Each scale's overrides, laid over every config it trains, pass the config validator."""
    for study in studies().values():
        for scale in study.scales.values():
            for model in study.trained_at(scale):
                config = Reproduction(study, scale, Path("unused"), seed=3).config(model.config)
                assert config.train.seed == 3 and config.data.split_seed == 3


def test_holm_within_the_family_across_seeds_by_hand():
    """Four of the paper's claims measured on 3 seeds (100 images each, so a difference of k right images is k
    points): every p-value from the closed form of Student's t with 2 degrees of freedom, Holm by hand."""
    def ones(k: int) -> AccuracyStats:
        return stats([[1] * k + [0] * (100 - k)])

    right = {  # per seed: (ResNet20 clean, En1 clean, ResNet20 IFGSM^20, En1 IFGSM^20, En2 IFGSM^20, 2xResNet20)
        0: (70, 71, 50, 53, 53, 55), 1: (70, 72, 50, 54, 55, 58), 2: (70, 73, 50, 55, 54, 58)}
    per_seed = {s: {"whitebox": {"resnet20": {"clean": ones(r[0]), "ifgsm20": ones(r[2])},
                                 "en1_resnet20": {"clean": ones(r[1]), "ifgsm20": ones(r[3])},
                                 "en2_resnet20": {"ifgsm20": ones(r[4])},
                                 "ens2_resnet20_nonoise": {"ifgsm20": ones(r[5])}}} for s, r in right.items()}
    verdicts = {v.measures: v for v in judge_seeds(get_study("fmnist"), per_seed)}
    assert {v.family for v in verdicts.values()} == {"paper"}

    def cdf(t: float) -> float:  # Student's t, 2 degrees of freedom
        return 0.5 + t / (2 * (2 + t * t) ** 0.5)

    se = 1 / 3 ** 0.5  # every claim below has seed sd 1
    expected = {  # measures: (per-seed differences, mean)
        ("whitebox:en1_resnet20:clean", "whitebox:resnet20:clean"): ((1, 2, 3), 2),
        ("whitebox:en1_resnet20:ifgsm20", "whitebox:resnet20:ifgsm20"): ((3, 4, 5), 4),
        ("whitebox:en2_resnet20:ifgsm20", "whitebox:en1_resnet20:ifgsm20"): ((0, 1, -1), 0),
        ("whitebox:en2_resnet20:ifgsm20", "whitebox:ens2_resnet20_nonoise:ifgsm20"): ((-2, -3, -4), -3),
    }
    assert set(verdicts) == set(expected)
    p, p_eq = {}, {}
    for key, (diffs, mean) in expected.items():
        v = verdicts[key]
        assert v.differences == pytest.approx(diffs) and v.mean == pytest.approx(mean) and v.sd == pytest.approx(1)
        p[key] = 2 * (1 - cdf(abs(mean) / se))
        p_eq[key] = max(1 - cdf((mean + 1) / se), 1 - cdf((1 - mean) / se))  # margin 1 point
        assert v.p_value == pytest.approx(p[key], abs=1e-9) and v.p_equivalence == pytest.approx(p_eq[key], abs=1e-9)
    # Two-sided p: 0.0202 (noise), 0.0351 (no-noise ensemble), 0.0742 (natural), 1 (members); Holm multiplies
    # them by 4, 3, 2, 1 in that order, keeping the sequence monotone.
    keys = sorted(p, key=p.get)
    assert [round(p[k], 4) for k in keys] == [0.0202, 0.0351, 0.0742, 1.0]
    adjusted, running = {}, 0.0
    for rank, k in enumerate(keys):
        running = max(running, min(1.0, (4 - rank) * p[k]))
        adjusted[k] = running
    for k in expected:
        assert verdicts[k].p_holm == pytest.approx(adjusted[k], abs=1e-9)
    # Alone the noise claim would hold (p = 0.02); within its family of four it cannot be told.
    assert p[keys[0]] < 0.05 < verdicts[keys[0]].p_holm and verdicts[keys[0]].verdict == CANNOT_TELL
    # The two one-sided tests: only the members claim (mean 0) comes near, 0.113, times 4 after Holm.
    members = ("whitebox:en2_resnet20:ifgsm20", "whitebox:en1_resnet20:ifgsm20")
    assert p_eq[members] == pytest.approx(0.5 - 3 ** 0.5 / (2 * 5 ** 0.5))
    assert verdicts[members].p_equivalence_holm == pytest.approx(4 * p_eq[members])
    assert all(v.verdict == CANNOT_TELL for v in verdicts.values())


def test_analyse_refused_through_the_python_api(tmp_path):
    with pytest.raises(ConfigError, match="holds no seed-"):
        SeedStudy(get_study("fmnist"), get_study("fmnist").scale("seeds"), tmp_path, (0, 1)).run(train=False)
