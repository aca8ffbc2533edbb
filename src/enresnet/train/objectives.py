"""Training objectives: natural (ERM, Eq. 2), PGD adversarial (Algorithm 1), TRADES.

* ``natural``: cross-entropy on the clean batch.
* ``pgd``: Algorithm 1 — uniform random start in [-eps, eps] (not clipped to
  [0, 1] unless ``attack.clip_start``), ``steps`` IFGSM
  steps of size ``alpha`` (Eq. 16) projected onto the eps-ball and [0, 1]; the
  model is trained on the adversarial batch only (EARM, Eq. 1).
* ``trades``: Zhang et al. 2019, the paper's benchmark —
  CE(f(x), y) + beta * KL(f(x) || f(x')), with x' maximising the KL term from
  x + 0.001 N(0, I) by the same projected sign steps.

Whether BatchNorm runs in train or eval mode while the training attack runs is
``train.attack_bn_mode``; the default ``train`` follows the authors' code (the
attack's forward passes then also update the running statistics). TRADES'
own code uses eval mode.

Both attacks run without host synchronisation (no value is read back), so a
whole training step can be captured in a CUDA graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks import PGD, model_mode


def pgd_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: dict, bn_mode: str) -> torch.Tensor:
    """Algorithm 1's adversarial batch: PGD with a uniform random start."""
    pgd = PGD(
        model,
        eps=attack["eps"],
        alpha=attack["alpha"],
        steps=attack["steps"],
        random_start=attack["random_start"],
        clip_start=attack["clip_start"],
    )
    pgd.model_mode = bn_mode
    return pgd.perturb(x, y)


def trades_examples(model: nn.Module, x: torch.Tensor, attack: dict, bn_mode: str) -> torch.Tensor:
    """TRADES' inner maximisation of KL(f(x) || f(x')) over the eps-ball."""
    eps, alpha = attack["eps"], attack["alpha"]
    with model_mode(model, bn_mode):
        with torch.no_grad():
            target = torch.softmax(model(x), dim=1)
        x_adv = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
        for _ in range(attack["steps"]):
            x_adv.requires_grad_(True)
            kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), target, reduction="sum")
            (grad,) = torch.autograd.grad(kl, x_adv)
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


def trades_loss(logits_nat: torch.Tensor, logits_adv: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
    """CE(f(x), y) + beta * KL(f(x) || f(x')) averaged over the batch (TRADES Eq. 5)."""
    kl = F.kl_div(F.log_softmax(logits_adv, dim=1), torch.softmax(logits_nat, dim=1), reduction="batchmean")
    return F.cross_entropy(logits_nat, y) + beta * kl
