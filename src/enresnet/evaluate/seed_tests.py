"""Tests across seeds: is a method better, worse, or equivalent within a margin, beyond seed-to-seed noise?

One network per method answers a question about that network. A question about a METHOD (does noise
injection raise robust accuracy?) needs several independently trained networks per method: seed ``s``
fixes split, order, augmentation and initialisation of every model, so for each seed the two methods
give one paired difference ``d_s`` (the mean over the same test images of the per-image score
difference), and the seeds are the independent replicates. With ``k`` seeds:

* the mean ``d`` and its 95% t-interval ``d +- t(0.975, k-1) * sd / sqrt(k)`` (Student 1908);
* the two-sided t-test of "no difference" (``p``), Holm-adjusted within a family of claims
  (:func:`enresnet.evaluate.paired.holm`);
* two one-sided tests (TOST, Schuirmann 1987) of "the difference lies within +-margin": both
  ``H0: d <= -margin`` and ``H0: d >= margin`` rejected at 5%, i.e. the 90% t-interval lies inside
  ``(-margin, margin)``; its p-value is the larger of the two one-sided ones.

The Student t distribution is computed here (its CDF from the regularised incomplete beta function,
continued fraction of Numerical Recipes' ``betacf`` form; quantiles by bisection) so that the package
needs no scipy; ``tests/test_seed_tests.py`` checks it against scipy and printed tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .paired import CANNOT_TELL, FAILS, HOLDS

LEVEL = 0.05


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= c * d
        if abs(c * d - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta fraction did not converge (a={a}, b={b}, x={x})")  # pragma: no cover


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must lie in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(q: float, df: int) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (bisection to 1e-12)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must lie in (0, 1), got {q}")
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < q:
        low, high = high, 2.0 * high
    while high - low > 1e-12 * max(1.0, high):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if t_cdf(mid, df) < q else (low, mid)
    return 0.5 * (low + high)


@dataclass(frozen=True)
class SeedComparison:
    """Per-seed paired differences (A - B, in points) and what they say about the methods."""

    differences: tuple[float, ...]
    margin: float
    """The pre-declared equivalence margin (points) of the two one-sided tests."""

    def __post_init__(self) -> None:
        if len(self.differences) < 2:
            raise ValueError(f"a test across seeds needs at least 2 seeds, got {len(self.differences)}")
        if not self.margin > 0:
            raise ValueError(f"the equivalence margin must be > 0 points, got {self.margin}")

    @property
    def seeds(self) -> int:
        return len(self.differences)

    @property
    def mean(self) -> float:
        return sum(self.differences) / self.seeds

    @property
    def sd(self) -> float:
        """The seed-to-seed standard deviation of the difference (n - 1 in the denominator)."""
        return math.sqrt(sum((d - self.mean) ** 2 for d in self.differences) / (self.seeds - 1))

    @property
    def standard_error(self) -> float:
        return self.sd / math.sqrt(self.seeds)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The two-sided ``level`` t-interval of the mean difference."""
        half = t_quantile(0.5 + level / 2, self.seeds - 1) * self.standard_error
        return self.mean - half, self.mean + half

    def _upper_tail(self, t: float) -> float:
        return 1.0 - t_cdf(t, self.seeds - 1)

    @property
    def p_value(self) -> float:
        """Two-sided t-test of "mean difference 0" (1 when every seed gives exactly 0, 0 when all equal non-0)."""
        if self.standard_error == 0:
            return 1.0 if self.mean == 0 else 0.0
        return min(1.0, 2.0 * self._upper_tail(abs(self.mean) / self.standard_error))

    @property
    def p_equivalence(self) -> float:
        """TOST p-value for "|mean difference| < margin": the larger of the two one-sided p-values."""
        if self.standard_error == 0:
            return 0.0 if abs(self.mean) < self.margin else 1.0
        lower = self._upper_tail((self.mean + self.margin) / self.standard_error)
        upper = self._upper_tail((self.margin - self.mean) / self.standard_error)
        return max(lower, upper)

    @property
    def equivalence_bound(self) -> float:
        """The smallest margin the two one-sided tests at 5% would accept: the 90% interval's largest |end|."""
        low, high = self.interval(1 - 2 * LEVEL)
        return max(abs(low), abs(high))

    def excludes(self, value: float, level: float = 0.95) -> bool:
        """Whether the ``level`` t-interval leaves ``value`` (points) out."""
        low, high = self.interval(level)
        return not low <= value <= high

    def verdict(self, p_holm: float, p_equivalence_holm: float) -> str:
        """"holds" (A > B, significant), "does not hold" (B > A, significant), "equivalent within M points"
        (two one-sided tests), else "cannot tell"; the p-values are the Holm-adjusted ones of the family."""
        if p_holm < LEVEL:
            return HOLDS if self.mean > 0 else FAILS
        if p_equivalence_holm < LEVEL:
            return f"equivalent within {self.margin:g} points"
        return CANNOT_TELL
