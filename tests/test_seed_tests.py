"""The tests across seeds (enresnet.evaluate.seed_tests): Student's t against printed tables and scipy,
t-intervals, t-tests, two one-sided tests and verdicts against values computed by hand."""

from __future__ import annotations

import math

import pytest

from enresnet.evaluate.paired import CANNOT_TELL, FAILS, HOLDS, holm
from enresnet.evaluate.seed_tests import SeedComparison, incomplete_beta, t_cdf, t_quantile

# Two-sided 95% (q = 0.975) and one-sided 95% (q = 0.95) critical values, as printed in t tables.
PRINTED = [(0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 4, 2.7764), (0.975, 9, 2.2622), (0.975, 30, 2.0423),
           (0.95, 1, 6.3138), (0.95, 4, 2.1318), (0.95, 9, 1.8331), (0.995, 4, 4.6041)]


@pytest.mark.parametrize("q, df, value", PRINTED)
def test_quantiles_match_printed_tables(q, df, value):
    assert t_quantile(q, df) == pytest.approx(value, abs=1e-4)
    assert t_quantile(1 - q, df) == pytest.approx(-value, abs=1e-4)
    assert t_cdf(t_quantile(q, df), df) == pytest.approx(q, abs=1e-10)


def test_closed_forms():
    # df = 1 is Cauchy: F(t) = 1/2 + atan(t)/pi; df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
    for t in (-7.5, -1.0, -0.2, 0.0, 0.3, 2.0, 40.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    # I_x(1, 1) = x, I_x(a, 1) = x^a.
    assert incomplete_beta(1, 1, 0.37) == pytest.approx(0.37, abs=1e-14)
    assert incomplete_beta(2.5, 1, 0.6) == pytest.approx(0.6 ** 2.5, abs=1e-14)


def test_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 7, 19, 100):
        for t in (-12.0, -3.1, -0.5, 0.0, 0.8, 2.2, 5.0, 30.0):
            assert t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), abs=1e-11)
        for q in (0.6, 0.9, 0.95, 0.975, 0.999):
            assert t_quantile(q, df) == pytest.approx(stats.t.ppf(q, df), rel=1e-9)


def test_comparison_by_hand():
    # Differences 1, 2, 3: mean 2, sd 1, standard error 1/sqrt(3), t = 2 sqrt(3) on 2 degrees of freedom.
    c = SeedComparison((1.0, 2.0, 3.0), margin=1.0)
    se = 1 / math.sqrt(3)
    assert (c.mean, c.sd, c.standard_error) == pytest.approx((2.0, 1.0, se))
    low, high = c.interval()
    assert (low, high) == pytest.approx((2 - 4.302653 * se, 2 + 4.302653 * se), abs=1e-5)
    # Two-sided p with 2 df has a closed form: p = 1 - |t| / sqrt(2 + t^2).
    t = 2 * math.sqrt(3)
    assert c.p_value == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)
    # TOST at margin 1: H0 d >= 1 gives t = (1 - 2) / se = -sqrt(3), p = 1 - F(-sqrt(3)).
    tost_upper = 1 - (0.5 - math.sqrt(3) / (2 * math.sqrt(2 + 3)))
    assert c.p_equivalence == pytest.approx(tost_upper, abs=1e-12)
    assert c.equivalence_bound == pytest.approx(2 + 2.919986 * se, abs=1e-5)
    assert c.excludes(6.96) and not c.excludes(3.03)
    assert c.verdict(c.p_value, c.p_equivalence) == CANNOT_TELL


def test_verdicts():
    better = SeedComparison((1.1, 0.9, 1.2, 1.0, 0.8), margin=0.5)
    assert better.p_value < 0.001 and better.verdict(better.p_value, better.p_equivalence) == HOLDS
    worse = SeedComparison((-1.1, -0.9, -1.2, -1.0, -0.8), margin=0.5)
    assert worse.verdict(worse.p_value, worse.p_equivalence) == FAILS
    same = SeedComparison((0.1, -0.1, 0.05, 0.0, -0.05), margin=1.0)
    assert same.p_equivalence < 0.001
    assert same.verdict(same.p_value, same.p_equivalence) == "equivalent within 1 points"
    # A Holm-adjusted p above 5% turns "holds" into "cannot tell".
    assert better.verdict(0.2, 1.0) == CANNOT_TELL
    # Every seed exactly equal: no variance; a non-zero mean is certain, a zero mean is equivalence.
    flat = SeedComparison((0.5, 0.5), margin=1.0)
    assert flat.p_value == 0.0 and flat.p_equivalence == 0.0


def test_holm_by_hand():
    # Sorted 0.01, 0.03, 0.04 of 3: 0.03, max(0.03, 0.06), max(0.06, 0.04).
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


@pytest.mark.parametrize("diffs, margin", [((1.0,), 1.0), ((), 1.0), ((1.0, 2.0), 0.0), ((1.0, 2.0), -1.0)])
def test_refusals(diffs, margin):
    with pytest.raises(ValueError):
        SeedComparison(diffs, margin)


@pytest.mark.parametrize("q, df", [(0.0, 3), (1.0, 3), (0.5, 0)])
def test_quantile_refusals(q, df):
    with pytest.raises(ValueError):
        t_quantile(q, df)
