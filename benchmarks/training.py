"""The two sides of the training benchmarks: the library's trainer step and a literal baseline.

* Ours: :class:`enresnet.train.Trainer` built from a config on a tiny synthetic
  dataset (only to construct it), stepped with ``Trainer._train_step(x, y)``:
  the code path of every training step of ``enresnet train`` (objective,
  attack, loss, SGD step, running metrics).
* Baseline: the paper's training written literally, with the same SGD settings
  and a copy of the same initial weights: for each member its logits from its
  own forward pass, their average, cross-entropy, backward, step. For PGD
  training (Algorithm 1) the adversarial batch comes from a plain PGD loop over
  the same per-member forward.
"""

from __future__ import annotations

import copy
import tempfile

import torch
import torch.nn.functional as F
from common import Pair, synthetic_batch, vectorize
from torch import nn

from enresnet.config import validate
from enresnet.models import Ensemble
from enresnet.train import Trainer


def make_trainer(method: str, name: str, batch_size: int, device: torch.device) -> Trainer:
    """A trainer of model ``name`` with the paper's defaults (SGD, Algorithm 1's attack).

    Its run directory is removed once it is built: ``_train_step`` never writes there.
    """
    config = validate(
        {
            "model": {"name": name},
            "data": {"name": "synthetic", "val_size": 0, "options": {"num_samples": 2}},
            "train": {"method": method, "batch_size": batch_size, "device": str(device), "epochs": 1},
        }
    )
    with tempfile.TemporaryDirectory(prefix="enresnet-bench-") as run_dir:
        return Trainer(config, run_dir, quiet=True)


def members(model: nn.Module) -> list[nn.Module]:
    """The networks of a model: an ensemble's members, or the model itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


class LiteralTraining:
    """The baseline: per-member forward passes, averaged logits, CE, SGD (and Algorithm 1's PGD)."""

    def __init__(self, model: nn.Module, config: dict) -> None:
        self.model = copy.deepcopy(model)
        self.members = members(self.model)
        train = config["train"]
        self.attack = config["attack"]
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=train["lr"],
            momentum=train["momentum"],
            nesterov=train["nesterov"],
            weight_decay=train["weight_decay"],
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The average of the members' logits, one forward pass per member."""
        total = 0
        for member in self.members:
            total = total + member(x)
        return total / len(self.members)

    def pgd(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Algorithm 1: uniform random start in the eps-ball, ``steps`` signed-gradient steps, clip."""
        eps, alpha = self.attack["eps"], self.attack["alpha"]
        x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(self.attack["steps"]):
            x_adv.requires_grad_(True)
            loss = F.cross_entropy(self.logits(x_adv), y)
            (grad,) = torch.autograd.grad(loss, x_adv)
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
        return x_adv.detach()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One SGD step on the cross-entropy of the averaged logits."""
        self.model.train()
        loss = F.cross_entropy(self.logits(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def pgd_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One step of PGD adversarial training (the attack in train mode, as the trainer's default)."""
        self.model.train()
        return self.step(self.pgd(x, y), y)


def training_pair(method: str, name: str, args, device: torch.device) -> tuple[Pair, str]:
    """Ours (the trainer's step) and the literal baseline for ``method`` ("natural" or "pgd")."""
    trainer = make_trainer(method, name, args.batch_size, device)
    baseline = LiteralTraining(trainer.model, trainer.config)
    label = name + vectorize(trainer.model, args.vectorize)
    pair = Pair(ours=trainer._train_step, baseline=baseline.step if method == "natural" else baseline.pgd_step)
    for step in (pair.ours, pair.baseline):
        step(*synthetic_batch(1, device))  # creates the SGD momentum buffers before any measured call
    return pair, label
