"""The paper's Carlini-Wagner attack (Carlini & Wagner 2017; paper Sec. 3.2, Eq. 18)."""

from __future__ import annotations

import torch
from torch import nn

from .base import Attack, margin


class CW(Attack):
    r"""C&W as the paper states it (Eq. 18), targeted at the strongest wrong class:

    .. math:: \min_w \; \big\|\tfrac12(\tanh w + 1) - x\big\|_\infty
              + c \cdot \max\{-\kappa,\; \max_{i \ne t} Z(x')_i - Z(x')_t\},
              \qquad x' = \tfrac12(\tanh w + 1),

    solved by Adam for ``steps`` iterations from ``w = atanh(2x - 1)``. The
    distance term is the l_inf norm, as Eq. (18) writes it (a common
    implementation, e.g. torchattacks' ``CW``, uses the squared l_2 distance
    instead). The target ``t`` is the highest non-true logit at the start (the
    EOT-averaged logits for a noisy model). The final iterate is projected into
    the l_inf eps-ball and [0, 1], so C&W is evaluated at the same budget as
    FGSM and IFGSM. Paper defaults: 50 Adam iterations, ``lr = 6e-4``,
    ``c = 10``, ``kappa = 0``; ``eps = 8/255``.

    With EOT the margin's gradient w.r.t. ``x'`` is the mean over the noise
    draws; the (deterministic) distance term and the chain rule through
    ``tanh`` are added by autograd.

    Each image is its own problem: the objective is the *sum* of the per-image
    objectives, so each image's ``w`` receives exactly the gradient of its own
    Eq. (18), and Adam (element-wise, with its ``eps`` in the denominator) gives
    the same adversarial image whether the image is attacked alone or in a batch
    of any size. (A batch *mean* would scale every gradient by 1/B, and Adam's
    ``eps`` would then make the step depend on B.) This holds exactly for a
    deterministic model; with the default whole-tensor noise std the noise
    scale itself depends on the batch.
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float = 8 / 255,
        steps: int = 50,
        lr: float = 6e-4,
        c: float = 10.0,
        kappa: float = 0.0,
        eot_samples: int = 1,
        eot_batch: int | None = None,
        stochastic: bool | None = None,
        *,
        model_mode: str = "eval",
        bf16: bool = False,
    ) -> None:
        super().__init__(model, eps, eot_samples, eot_batch, stochastic, model_mode=model_mode, bf16=bf16)
        if steps < 1 or lr <= 0 or c < 0 or kappa < 0:
            raise ValueError(f"need steps >= 1, lr > 0, c >= 0, kappa >= 0; got {steps}, {lr}, {c}, {kappa}")
        self.steps = int(steps)
        self.lr = float(lr)
        self.c = float(c)
        self.kappa = float(kappa)

    def target_labels(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The strongest wrong class: ``argmax_{i != y} Z(x)_i``."""
        logits = self.mean_logits(images)
        return logits.scatter(1, labels[:, None], float("-inf")).argmax(dim=1)

    def margin_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``max(-kappa, max_{i != t} Z_i - Z_t)``, mean over rows (minimised)."""
        return margin(logits, target).clamp_min(-self.kappa).mean()

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = self.target_labels(images, labels)
        w = torch.atanh((2 * images - 1).clamp(-1 + 1e-6, 1 - 1e-6)).requires_grad_(True)
        optimizer = torch.optim.Adam([w], lr=self.lr)
        for _ in range(self.steps):
            adv = (torch.tanh(w) + 1) / 2
            # input_grad differentiates the batch mean; times B: each image's own margin gradient
            margin_grad = self.input_grad(adv, target, self.margin_loss) * len(images)
            distance = (adv - images).flatten(1).abs().amax(dim=1).sum()
            objective = distance + self.c * (margin_grad * adv).sum()
            w.grad = torch.autograd.grad(objective, w)[0]
            optimizer.step()
        return ((torch.tanh(w) + 1) / 2).detach()
