"""Step learning-rate schedule (paper Sec. 4.1: lr 0.1, divided by 10 at epochs 80, 120, 160)."""

from __future__ import annotations

from bisect import bisect_right


def learning_rate(base_lr: float, epoch: int, milestones: list[int], gamma: float) -> float:
    """Learning rate for 0-based ``epoch``: ``base_lr * gamma ** #(milestones <= epoch)``."""
    return base_lr * gamma ** bisect_right(milestones, epoch)
