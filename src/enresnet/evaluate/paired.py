"""Paired comparisons of two models (or attacks) on the same images: a sign-flip test.

A claim such as "noise raises robust accuracy" compares two accuracies measured on the
SAME test images. Each image has a score per side: the fraction of its prediction draws
that were right (0 or 1 for a deterministic model; the paper's accuracy is the mean
score). Under "no difference" the per-image difference ``d = score_a - score_b`` is as
likely to be ``-d`` (the sign-flip, or randomisation, test); the statistic is ``sum d``
and the two-sided p-value the chance of a sum at least as far from 0 under random signs.

* Scores all 0/1 (both sides deterministic, or worst-case outcomes): only the discordant
  images move the sum, each a fair coin, so the p-value is exact: McNemar's exact test,
  ``2 * P(Binomial(b + c, 1/2) <= min(b, c))`` capped at 1 (McNemar 1947) (:func:`mcnemar`).
* Fractional scores (a noisy model's several draws, counts over r draws): the exact distribution
  of the sum under random signs (the differences are multiples of 1/L, L = lcm of the draws, so the
  sum is a convolution of scaled binomials) (:func:`sign_flip`); scores that are not such counts
  fall back to Monte Carlo over random sign vectors, ``p = (1 + #{|T*| >= |T|}) / (1 + draws)``
  (never below ``1 / (1 + draws)``; its own error is about ``sqrt(p / draws)``).

Several claims judged at once share the 5% error budget through Holm's step-down
adjustment (:func:`holm`): within one family of claims, the chance that ANY "holds" or
"does not hold" verdict is wrong stays <= 5%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

HOLDS, FAILS, CANNOT_TELL = "holds", "does not hold", "cannot tell at this size"


@dataclass(frozen=True)
class PairedComparison:
    """``a`` against ``b`` on the same ``n`` images: mean scores, images each side wins, p-value."""

    n: int
    accuracy_a: float
    accuracy_b: float
    only_a: int
    """Images where A scores higher (0/1 scores: right under A and wrong under B)."""
    only_b: int
    p_value: float
    method: str = "McNemar exact"

    def verdict(self, claim_a_better: bool = True, level: float = 0.05, p_value: float | None = None) -> str:
        """"holds" if the difference goes the claimed way and is significant at ``level``; "does not
        hold" if it is significant the other way; else "cannot tell at this size". ``p_value``
        replaces the test's own (an adjusted one, :func:`holm`)."""
        p = self.p_value if p_value is None else p_value
        if p >= level or self.only_a == self.only_b:
            return CANNOT_TELL
        a_better = self.only_a > self.only_b
        return HOLDS if a_better == claim_a_better else FAILS


def _binomial_cdf_half(k: int, n: int) -> float:
    """P(Binomial(n, 1/2) <= k), exactly (in log space for large n)."""
    if n == 0:
        return 1.0
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def mcnemar(correct_a: torch.Tensor, correct_b: torch.Tensor) -> PairedComparison:
    """McNemar's exact test of two (N,) bool outcome vectors on the same images."""
    a, b = correct_a.bool().flatten().cpu(), correct_b.bool().flatten().cpu()
    if a.shape != b.shape or a.numel() == 0:
        raise ValueError(f"need two outcome vectors over the same images, got {tuple(a.shape)} and {tuple(b.shape)}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    discordant = only_a + only_b
    p = min(1.0, 2 * _binomial_cdf_half(min(only_a, only_b), discordant)) if discordant else 1.0
    n = a.numel()
    return PairedComparison(n, float(a.double().mean()), float(b.double().mean()), only_a, only_b, p)


MAX_DENOMINATOR = 120
"""Scores that are counts over at most this many draws (their differences multiples of 1/L, L <= 120) get the
exact sign-flip distribution (:func:`_exact_tail`); other scores the Monte Carlo one."""


def _lattice(d: torch.Tensor) -> int | None:
    """The smallest L <= :data:`MAX_DENOMINATOR` making every ``d * L`` an integer, or None."""
    for lattice in range(1, MAX_DENOMINATOR + 1):
        scaled = d * lattice
        if bool(((scaled - scaled.round()).abs() < 1e-5).all()):  # float32 scores carry ~1e-7 error
            return lattice
    return None


def _exact_tail(steps: torch.Tensor) -> float:
    """P(|sum_i s_i k_i| >= |sum_i k_i|) for independent fair signs s_i, exactly: the k_i (non-zero integers)
    of one magnitude j, c of them, sum to j (2 B - c) with B ~ Binomial(c, 1/2); the groups are convolved."""
    dist = np.ones(1)
    magnitudes, counts = torch.unique(steps.abs(), return_counts=True)
    for j, c in zip(magnitudes.tolist(), counts.tolist()):
        i = np.arange(c + 1)
        pmf = np.exp(math.lgamma(c + 1) - np.array([math.lgamma(v + 1) + math.lgamma(c - v + 1) for v in i])
                     - c * math.log(2))
        group = np.zeros(2 * j * c + 1)
        group[:: 2 * j] = pmf
        dist = np.convolve(dist, group)
    centre, observed = (len(dist) - 1) // 2, abs(int(steps.sum()))
    return float(min(1.0, dist[: centre - observed + 1].sum() + dist[centre + observed:].sum()))


def sign_flip(scores_a: torch.Tensor, scores_b: torch.Tensor, draws: int = 100_000, seed: int = 0,
              chunk: int = 10_000) -> PairedComparison:
    """The paired sign-flip test of two (N,) per-image scores in [0, 1] (module doc): McNemar's exact test
    when every score is 0 or 1; the exact sign-flip distribution when the scores are counts over at most
    :data:`MAX_DENOMINATOR` draws (a noisy model's fraction of right predictions); else Monte Carlo with
    ``draws`` seeded sign vectors (whose p-value is never below ``1 / (1 + draws)``)."""
    a, b = scores_a.double().flatten().cpu(), scores_b.double().flatten().cpu()
    if a.shape != b.shape or a.numel() == 0:
        raise ValueError(f"need two score vectors over the same images, got {tuple(a.shape)} and {tuple(b.shape)}")
    if ((a == 0) | (a == 1)).all() and ((b == 0) | (b == 1)).all():
        return mcnemar(a.bool(), b.bool())
    d = a - b
    moving = d[d != 0]
    only_a, only_b = int((d > 0).sum()), int((d < 0).sum())
    lattice = _lattice(moving)
    if lattice is not None:
        steps = (moving * lattice).round().long()
        steps = steps[steps != 0]  # a difference that was float error only
        p = _exact_tail(steps) if steps.numel() else 1.0
        return PairedComparison(a.numel(), float(a.mean()), float(b.mean()), only_a, only_b, p, "sign-flip, exact")
    observed = abs(float(moving.sum()))
    generator = torch.Generator().manual_seed(seed)
    extreme = 0
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        signs = torch.randint(0, 2, (size, moving.numel()), generator=generator, dtype=torch.float64) * 2 - 1
        extreme += int(((signs @ moving).abs() >= observed - 1e-9).sum())
    p = (1 + extreme) / (1 + draws) if moving.numel() else 1.0
    return PairedComparison(a.numel(), float(a.mean()), float(b.mean()), only_a, only_b, p,
                            f"sign-flip, {draws:,} draws")


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the given order: the i-th smallest of m
    is multiplied by (m - i + 1), then made monotone and capped at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
