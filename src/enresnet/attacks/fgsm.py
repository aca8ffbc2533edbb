"""FGSM (Goodfellow et al. 2015; paper Sec. 3.2, Eq. 15)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Attack


class FGSM(Attack):
    r"""Fast gradient sign method, l_inf, untargeted (Eq. 15):

    .. math:: x' = \mathrm{Clip}_{[0,1]}\{x + \epsilon \cdot \mathrm{sign}(\nabla_x \mathcal{L}(x, y))\}

    with the cross-entropy loss. Paper default ``eps = 8/255`` (CIFAR).
    ``eot_samples``/``eot_batch``: see :class:`~enresnet.attacks.base.Attack`.
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, eot_samples: int = 1, eot_batch: int | None = None,
                 stochastic: bool | None = None, *, model_mode: str = "eval", bf16: bool = False) -> None:
        super().__init__(model, eps, eot_samples, eot_batch, stochastic, model_mode=model_mode, bf16=bf16)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        grad = self.input_grad(images, labels, F.cross_entropy)
        return images + self.eps * grad.sign()
