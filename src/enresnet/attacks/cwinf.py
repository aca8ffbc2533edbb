"""CW_inf: l_inf PGD on the Carlini-Wagner margin loss (the "CW_inf" of Madry et al. 2018,
Zhang et al. 2019 (TRADES) and later robustness evaluations)."""

from __future__ import annotations

import torch

from .base import margin
from .ifgsm import IFGSM


class CWInf(IFGSM):
    r"""Untargeted :class:`IFGSM` that ascends the margin ``max_{i != y} Z_i - Z_y`` of
    Eq. (18) instead of the cross-entropy.

    The margin is not clipped at ``-kappa``: an unclipped margin keeps a gradient
    after the model is fooled, which matters for a noisy model whose next draw
    may classify the point correctly again. Defaults as IFGSM^20: ``eps = 8/255``,
    ``alpha = 2/255``, ``steps = 20``, starting at ``x``.
    """

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return margin(logits, labels).mean()
