"""Paired comparisons of two models (or attacks) on the same images: McNemar's exact test.

A claim such as "noise raises robust accuracy" compares two accuracies measured on the
SAME test images. Only the discordant images carry information: b images right under A
and wrong under B, c the other way. Under "no difference" each discordant image is a fair
coin, so the two-sided exact p-value is ``2 * P(Binomial(b + c, 1/2) <= min(b, c))``
(capped at 1; McNemar 1947, exact form). The per-image outcomes come from
:attr:`AccuracyStats.robust_images` (right in every draw) or any (N,) bool vector.

Several claims judged at once share the 5% error budget through Holm's step-down
adjustment (:func:`holm`): the chance that ANY "holds" or "does not hold" verdict
is wrong stays <= 5%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

HOLDS, FAILS, CANNOT_TELL = "holds", "does not hold", "cannot tell at this size"


@dataclass(frozen=True)
class PairedComparison:
    """``a`` against ``b`` on the same ``n`` images: accuracies, discordant counts, exact p-value."""

    n: int
    accuracy_a: float
    accuracy_b: float
    only_a: int
    """Images right under A and wrong under B."""
    only_b: int
    p_value: float

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
