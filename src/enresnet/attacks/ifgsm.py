"""IFGSM / BIM (Kurakin et al. 2017; paper Eq. 16) and PGD (Madry et al. 2018; Algorithm 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Attack


class IFGSM(Attack):
    r"""Iterative FGSM, l_inf, untargeted (Eq. 16):

    .. math:: x^{(m)} = \mathrm{Clip}_{x,\epsilon}\{x^{(m-1)}
              + \alpha\,\mathrm{sign}(\nabla_x \mathcal{L}(x^{(m-1)}, y))\}, \quad m = 1, \dots, M,

    clipped to [0, 1] after every step; ``x^{(0)} = x`` and the result is
    ``x^{(M)}`` (the last iterate). Paper defaults (IFGSM^20): ``eps = 8/255``,
    ``alpha = 2/255``, ``steps = 20``. With ``random_start=True`` the start is
    ``x + U(-eps, eps)``: PGD, the attack of PGD adversarial training
    (Algorithm 1). As in Algorithm 1 (and the authors' code) that start is not
    clipped to [0, 1] (``clip_start=False``, the default): the first gradient is
    taken there and the first step's :meth:`project` brings the iterate back
    into the eps-ball and [0, 1]. ``clip_start=True`` clamps the start to [0, 1]
    before the first gradient (the Madry et al. / torchattacks variant); the two
    differ only on pixels within eps of 0 or 1. :attr:`loss` is the
    cross-entropy; subclasses change it.
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float = 8 / 255,
        alpha: float = 2 / 255,
        steps: int = 20,
        random_start: bool = False,
        eot_samples: int = 1,
        eot_batch: int | None = None,
        clip_start: bool = False,
        stochastic: bool | None = None,
        *,
        model_mode: str = "eval",
        bf16: bool = False,
    ) -> None:
        super().__init__(model, eps, eot_samples, eot_batch, stochastic, model_mode=model_mode, bf16=bf16)
        if steps < 1 or alpha <= 0:
            raise ValueError(f"need steps >= 1 and alpha > 0, got steps={steps}, alpha={alpha}")
        self.alpha = float(alpha)
        self.steps = int(steps)
        self.random_start = bool(random_start)
        self.clip_start = bool(clip_start)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss ascended at every step (mean over rows)."""
        return F.cross_entropy(logits, labels)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        adv = images
        if self.random_start:
            adv = images + torch.empty_like(images).uniform_(-self.eps, self.eps)
            if self.clip_start:
                adv = adv.clamp(0.0, 1.0)
        for _ in range(self.steps):
            grad = self.input_grad(adv, labels, self.loss)
            adv = self.project(adv + self.alpha * grad.sign(), images)
        return adv


class PGD(IFGSM):
    """PGD: :class:`IFGSM` from a uniform random start in [-eps, eps] (Algorithm 1; 10 steps by default).

    ``clip_start`` as in :class:`IFGSM`: False (Algorithm 1) leaves ``x + U(-eps, eps)``
    unclipped, True clamps it to [0, 1].
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float = 8 / 255,
        alpha: float = 2 / 255,
        steps: int = 10,
        random_start: bool = True,
        eot_samples: int = 1,
        eot_batch: int | None = None,
        clip_start: bool = False,
        stochastic: bool | None = None,
        *,
        model_mode: str = "eval",
        bf16: bool = False,
    ) -> None:
        super().__init__(model, eps, alpha, steps, random_start, eot_samples, eot_batch, clip_start, stochastic,
                         model_mode=model_mode, bf16=bf16)
