r"""TRADES' inner maximisation (Zhang et al. 2019, "Theoretically Principled Trade-off between Robustness and
Accuracy", Eq. (5) and Algorithm 1): the adversarial point of the KL term of the TRADES loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Attack


class TradesKL(Attack):
    r"""Projected sign ascent of :math:`\mathrm{KL}(f(x) \,\|\, f(x'))` over the l_inf eps-ball (Algorithm 1):

    .. math:: x'^{(0)} = \mathrm{Clip}_{[0,1]}\{x + 0.001\,\mathcal{N}(0, I)\}, \quad
              x'^{(m)} = \mathrm{Clip}_{x,\epsilon}\{x'^{(m-1)} + \alpha\,\mathrm{sign}\,\nabla_{x'}
              \textstyle\sum_i \mathrm{KL}(f(x_i) \,\|\, f(x'^{(m-1)}_i))\},

    clipped to [0, 1] after every step (:meth:`project`); the result is the last iterate. ``f(x)`` is the
    softmax of the model at the clean images, computed once without gradient; the KL is summed over the
    batch, as TRADES' code does. The labels are not used (the KL term is unsupervised); ``attack(images,
    labels)`` takes them only to be an :class:`Attack`. Defaults: eps = 8/255, alpha = 2/255, 10 steps
    (TRADES' CIFAR setting: 0.031, 0.007, 10). The start's Gaussian draw uses torch's global RNG, after
    the clean forward pass (which draws the noise of a noisy model), so callers seed it.

    Nothing is read back to the host: the training step that calls :meth:`perturb` can be captured in a
    CUDA graph. ``model_mode`` is the BatchNorm mode of the training attack (``train.attack_bn_mode``;
    TRADES' own code uses eval mode).
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float = 8 / 255,
        alpha: float = 2 / 255,
        steps: int = 10,
        *,
        model_mode: str = "eval",
        bf16: bool = False,
    ) -> None:
        super().__init__(model, eps, model_mode=model_mode, bf16=bf16)
        if steps < 1 or alpha <= 0:
            raise ValueError(f"need steps >= 1 and alpha > 0, got steps={steps}, alpha={alpha}")
        self.alpha = float(alpha)
        self.steps = int(steps)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), self.autocast(images):
            target = torch.softmax(self.model(images), dim=1)

        def kl(logits: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
            return F.kl_div(F.log_softmax(logits, dim=1), target, reduction="sum")

        adv = (images + 0.001 * torch.randn_like(images)).clamp(0, 1)
        for _ in range(self.steps):
            adv = self.project(adv + self.alpha * self.input_grad(adv, labels, kl).sign(), images)
        return adv
