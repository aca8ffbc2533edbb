"""The claim-by-claim verdicts: Holm's adjustment by hand, the sign-flip test against exact
enumeration, paired claims read image by image on the paper's measure, Holm within families,
claims on models a run did not measure left out, bound claims judged by their interval."""

from __future__ import annotations

import itertools

import pytest
import torch

from enresnet.evaluate.accuracy import AccuracyStats, mean_interval
from enresnet.evaluate.paired import CANNOT_TELL, FAILS, HOLDS, holm, mcnemar, sign_flip
from enresnet.reproduce.claims import judge, markdown
from enresnet.reproduce.studies import BoundClaim, Measure, Model, PairedClaim, Study


def test_holm_by_hand():
    # sorted: 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_sign_flip_matches_exact_enumeration_and_mcnemar():
    """Fractional scores (counts over 5 draws): the exact p-value, from all 2^12 sign vectors; 0/1 scores:
    exactly McNemar's test."""
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, 6, (40,), generator=g).double() / 5
    b = a.clone()
    b[:12] = torch.tensor([0.2, 0.4, 0.0, 0.6, 0.2, 0.8, 0.4, 0.0, 0.2, 1.0, 0.6, 0.4])
    d = (a - b)[:12]
    observed = abs(float(d.sum()))
    extreme = sum(abs(sum(s * float(x) for s, x in zip(signs, d))) >= observed - 1e-9
                  for signs in itertools.product((-1, 1), repeat=12))
    exact = extreme / 2**12
    result = sign_flip(a, b)
    assert 0.01 < exact < 0.9 and result.p_value == pytest.approx(exact, rel=1e-12)
    assert (result.only_a, result.only_b) == (int((d > 0).sum()), int((d < 0).sum()))
    x, y = torch.rand(300, generator=g) < 0.6, torch.rand(300, generator=g) < 0.5
    assert sign_flip(x.double(), y.double()).p_value == mcnemar(x, y).p_value


def stats(per_image: list[int], repeats: int) -> AccuracyStats:
    counts = torch.tensor(per_image)
    per_repeat = [int((counts > r).sum()) for r in range(repeats)]  # any split with these per-image counts
    return AccuracyStats.from_counts(per_repeat, int((counts == repeats).sum()), len(per_image), per_image=counts)


def study(claims) -> Study:
    models = tuple(Model(k, "unused.toml", k.upper()) for k in ("a", "b", "c"))
    return Study("s", "a test study", models, {}, "none", claims=claims)


def claim(text: str, higher: str, lower: str, family: str = "paper") -> PairedClaim:
    return PairedClaim(text, "Table X", Measure("t", higher, "ifgsm20"), Measure("t", lower, "ifgsm20"), "-",
                       family=family)


def test_paired_claim_compares_mean_scores_on_shared_images():
    # A: 3 draws; right in all 3 on 60 of the first 100 images, in 2 of 3 on the other 40 (mean 0.8667);
    # B: one draw, right on 30 of 120 (30 of the first 100)
    a = [3] * 60 + [2] * 40
    b = [1] * 30 + [0] * 90
    results = {"t": {"a": {"ifgsm20": stats(a, 3)}, "b": {"ifgsm20": stats(b, 1)}}}
    verdicts = judge(study((claim("A beats B", "a", "b"), claim("B beats A", "b", "a"),
                            claim("C beats A", "c", "a"))), results)
    assert [v.claim for v in verdicts] == ["A beats B", "B beats A"]  # C was not measured
    first = verdicts[0]
    a_scores, b_scores = torch.tensor(a[:100]) / 3, torch.tensor(b[:100]).double()
    direct = sign_flip(a_scores, b_scores)
    assert first.n == 100 and first.accuracy == pytest.approx((float(a_scores.mean()), 0.3))
    assert first.intervals[0] == pytest.approx(mean_interval(a_scores))
    assert first.wins == (direct.only_a, direct.only_b) and first.p_value == pytest.approx(direct.p_value)
    assert first.p_holm == pytest.approx(min(1.0, 2 * direct.p_value))
    assert first.measures == ("t:a:ifgsm20", "t:b:ifgsm20")
    assert (first.verdict, verdicts[1].verdict) == (HOLDS, FAILS)
    assert "A beats B" in markdown(verdicts)


def test_holm_within_families_only():
    results = {"t": {k: {"ifgsm20": stats([1] * right + [0] * (200 - right), 1)} for k, right in
                     (("a", 120), ("b", 100), ("c", 100))}}
    alone = judge(study((claim("A beats B", "a", "b"), claim("C vs B", "c", "b", family="other"))), results)
    together = judge(study((claim("A beats B", "a", "b"), claim("C vs B", "c", "b"))), results)
    assert alone[0].p_holm == pytest.approx(alone[0].p_value)
    assert together[0].p_holm == pytest.approx(min(1.0, 2 * together[0].p_value))


def test_small_difference_cannot_be_told():
    results = {"t": {"a": {"ifgsm20": stats([1] * 51 + [0] * 49, 1)}, "b": {"ifgsm20": stats([1] * 49 + [0] * 51, 1)}}}
    (verdict,) = judge(study((claim("A beats B", "a", "b"),)), results)
    assert verdict.verdict == CANNOT_TELL


@pytest.mark.parametrize("right, expected", [(0, HOLDS), (6, CANNOT_TELL), (40, FAILS)])
def test_bound_claim_by_the_interval_of_its_mean(right, expected):
    results = {"t": {"a": {"ifgsm20": stats([2] * right + [1] * 4 + [0] * (196 - right), 2)}}}
    bound = BoundClaim("A is near zero", "Sec. Y", Measure("t", "a", "ifgsm20"), 0.02, "0")
    (verdict,) = judge(study((bound,)), results)
    measured = results["t"]["a"]["ifgsm20"]
    assert verdict.accuracy == (measured.mean,) and verdict.intervals == (measured.interval(),)
    assert verdict.verdict == expected
