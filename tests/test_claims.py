"""The claim-by-claim verdicts: Holm's adjustment by hand, paired claims read image by image, claims on
models a run did not measure left out, bound claims judged by their interval."""

from __future__ import annotations

import pytest
import torch

from enresnet.evaluate.accuracy import AccuracyStats, wilson_interval
from enresnet.evaluate.paired import CANNOT_TELL, FAILS, HOLDS, holm, mcnemar
from enresnet.reproduce.claims import judge, markdown
from enresnet.reproduce.studies import BoundClaim, Measure, Model, PairedClaim, Study


def test_holm_by_hand():
    # sorted: 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def stats(per_image: list[int], repeats: int) -> AccuracyStats:
    counts = torch.tensor(per_image)
    per_repeat = [int((counts > r).sum()) for r in range(repeats)]  # any split with these per-image counts
    return AccuracyStats.from_counts(per_repeat, int((counts == repeats).sum()), len(per_image), per_image=counts)


def study(claims) -> Study:
    models = tuple(Model(k, "unused.toml", k.upper()) for k in ("a", "b", "c"))
    return Study("s", "a test study", models, {}, "none", claims=claims)


def test_paired_claim_reads_worst_case_outcomes_on_shared_images():
    # A: 3 draws, right in all of them on 60 of the first 100 images; B: one draw, right on 30 of 120
    a = [3] * 60 + [2] * 40
    b = [1] * 30 + [0] * 90
    claim = PairedClaim("A beats B", "Table X", Measure("t", "a", "ifgsm20"), Measure("t", "b", "ifgsm20"), "1 vs 0")
    reverse = PairedClaim("B beats A", "Table X", Measure("t", "b", "ifgsm20"), Measure("t", "a", "ifgsm20"), "0 vs 1")
    missing = PairedClaim("C beats A", "Table X", Measure("t", "c", "ifgsm20"), Measure("t", "a", "ifgsm20"), "-")
    results = {"t": {"a": {"ifgsm20": stats(a, 3)}, "b": {"ifgsm20": stats(b, 1)}}}
    verdicts = judge(study((claim, reverse, missing)), results)
    assert [v.claim for v in verdicts] == ["A beats B", "B beats A"]  # C was not measured
    direct = mcnemar(torch.tensor(a[:100]) == 3, torch.tensor(b[:100]) == 1)
    first = verdicts[0]
    assert first.n == 100 and first.accuracy == pytest.approx((0.6, 0.3))
    assert first.discordant == (direct.only_a, direct.only_b)
    assert first.p_value == pytest.approx(direct.p_value)
    assert first.p_holm == pytest.approx(min(1.0, 2 * direct.p_value))
    assert (first.verdict, verdicts[1].verdict) == (HOLDS, FAILS)
    assert "A beats B" in markdown(verdicts)


def test_small_difference_cannot_be_told():
    results = {"t": {"a": {"ifgsm20": stats([1] * 51 + [0] * 49, 1)}, "b": {"ifgsm20": stats([1] * 49 + [0] * 51, 1)}}}
    claim = PairedClaim("A beats B", "T", Measure("t", "a", "ifgsm20"), Measure("t", "b", "ifgsm20"), "-")
    (verdict,) = judge(study((claim,)), results)
    assert verdict.verdict == CANNOT_TELL


@pytest.mark.parametrize("right, expected", [(0, HOLDS), (10, CANNOT_TELL), (40, FAILS)])
def test_bound_claim_by_its_interval(right, expected):
    results = {"t": {"a": {"ifgsm20": stats([1] * right + [0] * (200 - right), 1)}}}
    claim = BoundClaim("A is near zero", "Sec. Y", Measure("t", "a", "ifgsm20"), 0.05, "0")
    (verdict,) = judge(study((claim,)), results)
    low, high = wilson_interval(right, 200)
    assert verdict.intervals == ((low, high),) and verdict.verdict == expected
