"""The two sides of the training benchmarks: the library's trainer step and a literal baseline.

* Ours: :meth:`enresnet.train.Trainer.train_step` of a trainer built from a
  config (a tiny synthetic dataset, only to construct it; nothing is written to
  disk): the code path of every step of ``enresnet train`` (objective, attack,
  loss, SGD step, running sums), with the device's speed defaults unless
  ``--amp``/``--channels-last``/``--capture`` say otherwise.
* Baseline: the paper's training written literally, as the authors' code does
  it, with the same SGD settings and a copy of the same initial weights: fp32,
  for each member its logits from its own forward pass, their average,
  cross-entropy, backward, step. For PGD training (Algorithm 1) the adversarial
  batch comes from a plain PGD loop over the same per-member forward.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from common import Pair, loop_model, synthetic_batch
from torch import nn

from enresnet.config import Config, validate
from enresnet.models import Ensemble
from enresnet.train import Trainer

SWITCHES = {"auto": "auto", "on": True, "off": False}


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """``--amp``, ``--channels-last``, ``--capture``: ours' ``train.*`` keys (default: the device's choice)."""
    for flag in ("amp", "channels-last", "capture"):
        parser.add_argument(f"--{flag}", choices=sorted(SWITCHES), default="auto", help=f"ours' train.{flag}")


def speed_overrides(args: argparse.Namespace) -> dict:
    amp = {"auto": "auto", "on": "bf16", "off": "none"}[args.amp]
    return {"amp": amp, "channels_last": SWITCHES[args.channels_last], "capture": SWITCHES[args.capture]}


def make_trainer(method: str, name: str, batch_size: int, device: torch.device, speed: dict | None = None) -> Trainer:
    """A trainer of model ``name`` with the paper's defaults (SGD, Algorithm 1's attack); no run directory."""
    config = validate(
        {
            "model": {"name": name},
            "data": {"name": "synthetic", "val_size": 0, "options": {"num_samples": 2}},
            "train": {"method": method, "batch_size": batch_size, "device": str(device), "epochs": 1, **(speed or {})},
        }
    )
    return Trainer(config)


def speed_label(trainer: Trainer) -> str:
    """The resolved speed options, for the table: e.g. ``[bf16, NHWC, graph]``."""
    on = [name for name, flag in (("bf16", trainer.speed.bf16), ("NHWC", trainer.speed.channels_last),
                                  ("graph", trainer.speed.capture)) if flag]
    return f" [{', '.join(on) or 'fp32'}]"


def members(model: nn.Module) -> list[nn.Module]:
    """The networks of a model: an ensemble's members, or the model itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


class LiteralTraining:
    """The baseline: per-member forward passes, averaged logits, CE, SGD (and Algorithm 1's PGD)."""

    def __init__(self, model: nn.Module, config: Config) -> None:
        self.model = loop_model(model).to(memory_format=torch.contiguous_format)
        self.members = members(self.model)
        train = config.train
        self.attack = config.attack
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=train.lr,
            momentum=train.momentum,
            nesterov=train.nesterov,
            weight_decay=train.weight_decay,
        )

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The average of the members' logits, one forward pass per member."""
        total = 0
        for member in self.members:
            total = total + member(x)
        return total / len(self.members)

    def pgd(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Algorithm 1: uniform random start in the eps-ball, ``steps`` signed-gradient steps, clip."""
        eps, alpha = self.attack.eps, self.attack.alpha
        x_adv = x + torch.empty_like(x).uniform_(-eps, eps)
        for _ in range(self.attack.steps):
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
    trainer = make_trainer(method, name, args.batch_size, device, speed_overrides(args))
    baseline = LiteralTraining(trainer.model, trainer.config)
    pair = Pair(ours=trainer.train_step, baseline=baseline.step if method == "natural" else baseline.pgd_step)
    for step in (pair.ours, pair.baseline):
        step(*synthetic_batch(1, device))  # creates the SGD momentum buffers before any measured call
    if trainer.graphed_step is not None:  # its eager warm-up calls and the recording, before any measured call
        for _ in range(trainer.graphed_step.warmup + 1):
            pair.ours(*synthetic_batch(args.batch_size, device))
    return pair, name + speed_label(trainer)
