"""Training objectives: natural (ERM, Eq. 2), PGD adversarial (Algorithm 1), TRADES; one object per run.

* :class:`Natural`: cross-entropy on the clean batch.
* :class:`PGDTraining`: Algorithm 1 — uniform random start in [-eps, eps] (not
  clipped to [0, 1] unless ``attack.clip_start``), ``steps`` IFGSM steps of size
  ``alpha`` (Eq. 16) projected onto the eps-ball and [0, 1]
  (:class:`~enresnet.attacks.PGD`); the model is trained on the adversarial
  batch only (EARM, Eq. 1).
* :class:`TRADES`: Zhang et al. 2019, the paper's benchmark —
  CE(f(x), y) + beta * KL(f(x) || f(x')), with x' maximising the KL term from
  x + 0.001 N(0, I) by the same projected sign steps (:class:`~enresnet.attacks.TradesKL`).

Whether BatchNorm runs in train or eval mode while the training attack runs is
``train.attack_bn_mode``; the default ``train`` follows the authors' code (the
attack's forward passes then also update the running statistics). TRADES'
own code uses eval mode.

Both attacks run without host synchronisation (no value is read back), so a
whole training step can be captured in a CUDA graph.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..attacks import PGD, TradesKL
from ..config import AttackConfig, TrainConfig

Logits = Callable[[torch.Tensor], tuple[torch.Tensor, "torch.Tensor | None"]]
"""The training forward: images -> (logits, every member's logits (members, N, classes) or None)."""


class Natural:
    """ERM (Eq. 2): the cross-entropy of the clean batch."""

    def examples(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The batch the model is trained on: the clean one."""
        return x

    def loss(self, logits_of: Logits, x: torch.Tensor, x_in: torch.Tensor,
             y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(the batch loss, the logits its accuracy is counted on, the members' logits or None) for the
        training batch ``x_in`` (:meth:`examples` of the clean batch ``x``)."""
        logits, members = logits_of(x_in)
        logits = logits.float()
        return F.cross_entropy(logits, y), logits, members


class PGDTraining(Natural):
    """PGD adversarial training (Algorithm 1): the cross-entropy of the PGD batch."""

    def __init__(self, model: nn.Module, attack: AttackConfig, bn_mode: str) -> None:
        self.attack = PGD(model, eps=attack.eps, alpha=attack.alpha, steps=attack.steps,
                          random_start=attack.random_start, clip_start=attack.clip_start, model_mode=bn_mode)

    def examples(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.attack.perturb(x, y)


class TRADES(Natural):
    """TRADES: CE(f(x), y) + beta * KL(f(x) || f(x')) averaged over the batch (TRADES Eq. 5), one forward pass
    of the clean and adversarial batches together."""

    def __init__(self, model: nn.Module, attack: AttackConfig, bn_mode: str, beta: float) -> None:
        self.attack = TradesKL(model, attack.eps, attack.alpha, attack.steps, model_mode=bn_mode)
        self.beta = beta

    def examples(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.attack.perturb(x, y)

    def loss(self, logits_of: Logits, x: torch.Tensor, x_in: torch.Tensor,
             y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        logits, members = logits_of(torch.cat([x, x_in]))
        logits_nat, logits_adv = logits.float().chunk(2)
        kl = F.kl_div(F.log_softmax(logits_adv, dim=1), torch.softmax(logits_nat, dim=1), reduction="batchmean")
        loss = F.cross_entropy(logits_nat, y) + self.beta * kl
        return loss, logits_nat, (members[:, : len(y)] if members is not None else None)


def make_objective(model: nn.Module, train: TrainConfig, attack: AttackConfig) -> Natural:
    """The objective of ``train.method`` for ``model``, its attack built once (``train.attack_bn_mode``)."""
    if train.method == "pgd":
        return PGDTraining(model, attack, train.attack_bn_mode)
    if train.method == "trades":
        return TRADES(model, attack, train.attack_bn_mode, train.trades_beta)
    return Natural()
