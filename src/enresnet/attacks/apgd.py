r"""Auto-PGD (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an
ensemble of diverse parameter-free attacks", Algorithm 1): l_inf, untargeted.

APGD is PGD with momentum whose step size needs no tuning. It starts at ``2 eps``
and is halved per image at checkpoints when progress stalls. Defaults as the paper's
AutoAttack: 100 steps, 1 restart, ``rho = 0.75``, momentum 0.75, eps = 8/255.

EOT (Athalye et al. 2018) folds the draws into the batch axis. Each iteration makes
one call to :meth:`~enresnet.attacks.base.Attack.eot_gradient`, which sends all
``draws x N`` images through the model at once (in chunks of ``eot_batch`` replicas
when set). The reference implementation (pyautoattack's ``APGDAttack``) instead runs
``eot_iter`` passes in a Python loop. An image's loss is the mean over the draws of
each draw's loss. The image counts as misclassified when the argmax of its logits,
averaged over the draws, differs from the label. For a deterministic model there is
one draw, and this is plain APGD.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .base import Attack, margin

LOSSES = ("ce", "dlr")


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""Per-row DLR loss: :math:`-(z_y - \max_{i \ne y} z_i) / (z_{\pi_1} - z_{\pi_3} + 10^{-12})`.

    :math:`\pi` sorts the logits in decreasing order. The loss is invariant to shifts
    and rescaling of the logits. It needs at least 3 classes.
    """
    if logits.shape[1] < 3:
        raise ValueError(f"the DLR loss needs at least 3 classes, got {logits.shape[1]}")
    top = logits.topk(3, dim=1).values
    return margin(logits, labels) / (top[:, 0] - top[:, 2] + 1e-12)


class APGD(Attack):
    r"""Auto-PGD, l_inf, untargeted (Algorithm 1 of Croce & Hein 2020).

    *Random start*, as in AutoAttack: ``t = 2U - 1`` per pixel, then
    ``x + eps * t / (max|t| + 1e-12)`` with the max taken per image, clamped to
    [0, 1]. The draw uses torch's global RNG, so callers seed it.

    *Update*, with :meth:`project` onto the eps-ball and [0, 1]:

    .. math:: z = P(x^{(k)} + \eta\,\mathrm{sign}\,\nabla f(x^{(k)})), \quad
              x^{(k+1)} = P(x^{(k)} + \alpha (z - x^{(k)}) + (1 - \alpha)(x^{(k)} - x^{(k-1)})).

    Here ``alpha = 0.75``, except 1 at the first step. The step size ``eta`` starts
    at ``2 eps`` per image.

    *Checkpoints*: the first comes after ``max(int(0.22 steps), 1)`` iterations.
    Each later interval is shorter by ``max(int(0.03 steps), 1)``, down to a minimum
    of ``max(int(0.06 steps), 1)``. At a checkpoint an image's step size halves, and
    it restarts from its highest-loss point with that point's gradient, if either
    condition holds:

    1. its loss rose from one step to the next in at most ``rho * interval`` of the
       interval's steps;
    2. its step size was not reduced at the previous checkpoint, and its best loss
       has not improved since then.

    The one known difference from pyautoattack: condition 1 compares the first
    step's loss with the loss at the random start, as the paper defines it.
    pyautoattack compares it with 0 there.

    ``loss`` is ``"ce"`` (cross-entropy per image) or ``"dlr"`` (:func:`dlr_loss`).
    ``restarts`` runs happen in sequence. Each run after the first attacks only the
    images not yet misclassified. For each image the result is the first
    misclassified point found; an image that was never misclassified gets its
    highest-loss point.
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float = 8 / 255,
        loss: str = "ce",
        steps: int = 100,
        restarts: int = 1,
        rho: float = 0.75,
        eot_samples: int = 1,
        eot_batch: int | None = None,
        stochastic: bool | None = None,
        *,
        model_mode: str = "eval",
        bf16: bool = False,
    ) -> None:
        super().__init__(model, eps, eot_samples, eot_batch, stochastic, model_mode=model_mode, bf16=bf16)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {restarts}")
        if not 0 < rho < 1:
            raise ValueError(f"rho must be in (0, 1), got {rho}")
        self.loss = loss
        self.steps = int(steps)
        self.restarts = int(restarts)
        self.rho = float(rho)

    def loss_per_image(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss that is ascended, one value per row (not reduced)."""
        if self.loss == "ce":
            return F.cross_entropy(logits, labels, reduction="none")
        return dlr_loss(logits, labels)

    def _evaluate(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(EOT gradient, per-image loss averaged over draws, misclassified by the draw-averaged logits) at ``x``."""
        grad, logits = self.eot_gradient(x, labels, self.loss_per_image)
        draws, n = logits.shape[:2]
        loss = self.loss_per_image(logits.flatten(0, 1), labels.repeat(draws)).view(draws, n).mean(0)
        wrong = logits.mean(0).argmax(1) != labels
        return grad, loss, wrong

    def single_run(self, images: torch.Tensor, labels: torch.Tensor,
                   on_step: Callable[[], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Run once from a random start. Returns a pair: the highest-loss iterate, and
        the last iterate at which the image was misclassified.

        For an image that was never misclassified, the second tensor holds its
        highest-loss iterate too. ``on_step()`` is called after each iteration (progress).
        """
        best, adv, _, _ = self._run(images, labels, on_step)
        return best, adv

    def _run(self, images: torch.Tensor, labels: torch.Tensor, on_step: Callable[[], None] | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`single_run`, plus each image's best loss and whether it was ever misclassified.

        The bookkeeping stays on the device, uses masks only and never reads a
        value back to the host. The checkpoint schedule depends only on ``steps``.
        """
        images = images.detach()
        view = (-1,) + (1,) * (images.dim() - 1)
        t = 2 * torch.rand_like(images) - 1
        x = images + self.eps * (t / (t.abs().flatten(1).amax(1).view(view) + 1e-12))
        x = x.clamp(0.0, 1.0)
        grad, loss, wrong = self._evaluate(x, labels)

        x_best, grad_best, loss_best = x.clone(), grad.clone(), loss.clone()
        x_adv, fooled = x.clone(), wrong.clone()
        step = torch.full((images.shape[0],) + (1,) * (images.dim() - 1), 2 * self.eps,
                          dtype=images.dtype, device=images.device)
        interval = max(int(0.22 * self.steps), 1)
        shrink = max(int(0.03 * self.steps), 1)
        min_interval = max(int(0.06 * self.steps), 1)
        since_check = 0
        increases = torch.zeros_like(loss)
        last_loss = loss
        best_at_check = loss_best.clone()
        reduced_at_check = torch.ones_like(fooled)  # condition 2 cannot fire at the first checkpoint
        x_prev = x

        for i in range(self.steps):
            momentum = 0.75 if i > 0 else 1.0
            z = self.project(x + step * grad.sign(), images)
            x_prev, x = x, self.project(x + (z - x) * momentum + (x - x_prev) * (1 - momentum), images)
            grad, loss, wrong = self._evaluate(x, labels)

            fooled = fooled | wrong
            x_adv = torch.where(wrong.view(view), x, x_adv)
            improved = loss > loss_best
            x_best = torch.where(improved.view(view), x, x_best)
            grad_best = torch.where(improved.view(view), grad, grad_best)
            loss_best = torch.where(improved, loss, loss_best)
            increases = increases + (loss > last_loss).to(increases.dtype)
            last_loss = loss

            since_check += 1
            if on_step is not None:
                on_step()
            if since_check == interval:
                oscillating = increases <= interval * self.rho  # condition 1
                stalled = ~reduced_at_check & (best_at_check >= loss_best)  # condition 2
                reduce = oscillating | stalled
                step = torch.where(reduce.view(view), step / 2, step)
                x = torch.where(reduce.view(view), x_best, x)
                grad = torch.where(reduce.view(view), grad_best, grad)
                reduced_at_check, best_at_check = reduce, loss_best.clone()
                increases = torch.zeros_like(increases)
                interval = max(interval - shrink, min_interval)
                since_check = 0

        x_adv = torch.where(fooled.view(view), x_adv, x_best)
        return x_best, x_adv, loss_best, fooled

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Run up to ``restarts`` times; each run after the first attacks only the images not yet misclassified.

        The first run covers the whole batch and reads nothing back to the host.
        Picking the remaining images before each later run takes one host read.
        """
        adv, loss, fooled = None, None, None
        for run in range(self.restarts):
            if run == 0:
                _, adv, loss, fooled = self._run(images, labels)
                continue
            todo = (~fooled).nonzero().squeeze(1)
            if todo.numel() == 0:
                break
            _, adv_r, loss_r, fooled_r = self._run(images[todo], labels[todo])
            take = fooled_r | (loss_r > loss[todo])
            view = (-1,) + (1,) * (images.dim() - 1)
            adv[todo] = torch.where(take.view(view), adv_r, adv[todo])
            loss[todo] = torch.where(take, loss_r, loss[todo])
            fooled[todo] = fooled_r
        return adv
