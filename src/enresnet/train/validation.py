"""Validation accuracy during training: natural and IFGSM robust (Eq. 16).

Runs in eval mode with noise on (the model as it is used) under a forked RNG
seeded by (seed, epoch): the training RNG stream is left untouched, so a
resumed run draws the same noise, and re-running the validation with the same
seed on the same weights gives the same number. Under DDP each rank takes
every world_size-th batch and the counts are summed.

The attack is built by the evaluation's factory
(:func:`enresnet.evaluate.protocol.build_attack`, IFGSM from x with the training
budget, one draw) and each prediction is
:func:`enresnet.evaluate.accuracy.correct_draws`, the loop every evaluation uses
(one draw here). Counts stay on the device until the end
of the pass (one read). With
``capture`` (CUDA) a full batch's work — the clean forward, IFGSM, the
adversarial forward — is recorded once in a CUDA graph and replayed for every
later batch and epoch (:mod:`enresnet.train.capture`); random numbers inside the
graph follow the seeded generator, so the pass stays a function of its seed.
"""

from __future__ import annotations

import torch
from torch import nn

from ..attacks import Attack
from ..config import AttackConfig
from ..data import ImageDataset, iterate_batches
from ..evaluate.accuracy import correct_draws
from ..evaluate.protocol import AttackSettings, build_attack
from .capture import GraphedFunction
from .distributed import DistContext


def validation_attack(model: nn.Module, budget: AttackConfig, steps: int) -> Attack:
    """The validation's IFGSM^steps (Eq. 16, from x, one draw) at the training budget, by the evaluation's factory."""
    return build_attack(f"ifgsm{steps}", model, AttackSettings(eps=budget.eps, alpha=budget.alpha))


class Validator:
    """Natural and IFGSM robust accuracy of ``model`` on a dataset, batch by batch (see module doc)."""

    def __init__(
        self,
        model: nn.Module,
        batch_size: int,
        attack: Attack | None = None,
        ctx: DistContext | None = None,
        channels_last: bool = False,
        capture: bool = False,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.ifgsm = attack
        self.ctx = ctx or DistContext()
        self.channels_last = channels_last
        self.graphed = GraphedFunction(self._batch_counts) if capture else None

    def _batch_counts(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(natural correct, robust correct) of one batch, on the device: one draw each (correct_draws)."""
        natural = correct_draws(self.model, x, y, repeats=1)[0].sum()
        robust = torch.zeros_like(natural)
        if self.ifgsm is not None:
            robust = correct_draws(self.model, self.ifgsm.perturb(x, y), y, repeats=1)[0].sum()
        return torch.stack([natural, robust]).double()

    def __call__(self, dataset: ImageDataset, seed: int) -> tuple[float, float | None]:
        """(natural accuracy, robust accuracy or None) on ``dataset``."""
        device = dataset.images.device
        was_training = self.model.training
        self.model.eval()
        counts = torch.zeros(3, dtype=torch.float64, device=device)  # natural correct, robust correct, seen
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for index, (x, y) in enumerate(iterate_batches(dataset, self.batch_size)):
                if index % self.ctx.world_size != self.ctx.rank:
                    continue
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                full = self.graphed is not None and len(y) == self.batch_size
                counts[:2] += self.graphed(x, y) if full else self._batch_counts(x, y)
                counts[2] += len(y)
        self.model.train(was_training)
        self.ctx.all_reduce_sum(counts)
        natural, robust, seen = counts.tolist()
        seen = max(seen, 1.0)
        return natural / seen, (robust / seen if self.ifgsm is not None else None)

