"""Resumable training state inside ``last.safetensors``.

Besides the model's tensors the checkpoint holds the SGD momentum buffers
(``optim/<param>``, named and laid out as the model's state dict: an En_n
ResNet's buffers per member), every rank's RNG states (``rng/cpu/<rank>``,
``rng/cuda/<rank>``) and the epoch's running sums, so that ``--resume``
continues exactly where the run stopped: same data order (a function of seed,
epoch and step), same noise draws, same optimiser state.

The metadata of a checkpoint ``enresnet train`` writes is a :class:`CheckpointMeta`
(what was trained, on what, by which method and budget) and, in a ``last``
checkpoint, a :class:`TrainingState` under ``train_state``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import Config
from ..errors import CheckpointError
from ..models import ModelSpec, fused_layout, member_layout
from .distributed import DistContext


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint of a run records besides its tensors, as JSON (the keys the evaluation reads):

    ``model`` (the model's spec), ``dataset`` (``name``, ``data_dir``, ``options``, ``num_classes``),
    ``method``, ``epoch`` (completed), ``run_id`` and, for adversarial training only, ``attack``
    (``eps``, ``alpha``, ``steps``: the training budget, which :mod:`enresnet.evaluate.budget` reads;
    checkpoints of older versions kept it under ``dataset``).
    """

    model: ModelSpec
    config: Config
    num_classes: int
    epoch: int
    run_id: str | None

    def to_dict(self) -> dict[str, Any]:
        data, method = self.config.data, self.config.train.method
        meta = {
            "model": self.model.to_dict(),
            "dataset": {"name": data.name, "data_dir": data.data_dir, "options": data.options,
                        "num_classes": self.num_classes},
            "method": method,
            "epoch": self.epoch,
            "run_id": self.run_id,
        }
        if method == "natural":  # a naturally trained model has no attack budget (evaluate.budget)
            return meta
        attack = self.config.attack
        return meta | {"attack": {"eps": attack.eps, "alpha": attack.alpha, "steps": attack.steps}}


@dataclass(frozen=True)
class Best:
    """The best validation metric so far and the epoch it was measured after (0: none yet)."""

    metric: float = -math.inf
    epoch: int = 0


SUM_KEYS = ("loss", "correct", "count", "nonfinite", "first_nonfinite", "steps")
"""The scalar running sums of an epoch (besides the per-member ``weight_grad``)."""
SAVED_SUMS = ("loss", "correct", "count")
"""The running sums a ``last`` checkpoint keeps."""


@dataclass
class RunningSums:
    """An epoch's running sums, float64 tensors on the device that a (captured) step adds to in place.

    ``loss`` and ``correct`` are summed over images (``count``); ``nonfinite`` counts non-finite losses,
    ``first_nonfinite`` is the ``steps`` count at the first of them; ``weight_grad`` is Eq. 19-20's
    gradient of an ensemble's learned weights (one value per member; empty for other models).
    """

    loss: torch.Tensor
    correct: torch.Tensor
    count: torch.Tensor
    nonfinite: torch.Tensor
    first_nonfinite: torch.Tensor
    steps: torch.Tensor
    weight_grad: torch.Tensor

    @classmethod
    def zeros(cls, members: int, device: torch.device) -> RunningSums:
        scalars = {key: torch.zeros((), dtype=torch.float64, device=device) for key in SUM_KEYS}
        return cls(**scalars, weight_grad=torch.zeros(members, dtype=torch.float64, device=device))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {key: getattr(self, key) for key in (*SUM_KEYS, "weight_grad")}

    def zero_(self) -> None:
        for value in self.tensors().values():
            value.zero_()

    def read(self) -> Totals:
        """The scalar sums, read back from the device (one synchronisation)."""
        return Totals(*torch.stack([getattr(self, key) for key in SUM_KEYS]).tolist())

    def all_reduced(self, ctx: DistContext) -> RunningSums:
        """A copy summed over the ranks."""
        return RunningSums(**{key: ctx.all_reduce_sum(value.clone()) for key, value in self.tensors().items()})


@dataclass(frozen=True)
class Totals:
    """The scalar :class:`RunningSums` read back to the host."""

    loss: float
    correct: float
    count: float
    nonfinite: float
    first_nonfinite: float
    steps: float

    def saved(self) -> dict[str, float]:
        """The sums a ``last`` checkpoint keeps (:data:`SAVED_SUMS`)."""
        return {key: getattr(self, key) for key in SAVED_SUMS}


@dataclass(frozen=True)
class TrainingState:
    """Where a run stands, kept in a ``last`` checkpoint's metadata (``train_state``) to resume it exactly:
    completed epochs, steps of the current epoch, the best validation so far, the saved running sums
    (:data:`SAVED_SUMS`), the number of processes and the config (its file form)."""

    epoch: int
    step: int
    best: Best
    sums: dict[str, float]
    world_size: int
    config: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step, "best": {"metric": self.best.metric, "epoch": self.best.epoch},
                "sums": self.sums, "world_size": self.world_size, "config": self.config}

    @classmethod
    def from_checkpoint(cls, path: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor],
                        weight_grad: torch.Tensor) -> TrainingState:
        """The training state of the ``last`` checkpoint ``path``, refused when any part of it is missing or
        malformed (``weight_grad``: the running sum its ``train/weight_grad`` tensor must match in shape)."""
        state = meta.get("train_state")
        if not isinstance(state, dict):
            raise CheckpointError(f"{path} holds no training state; it cannot be resumed")
        bad = [key for key, kind in _STATE_TYPES.items() if not isinstance(state.get(key), kind)]
        sums, best, config = state.get("sums"), state.get("best"), state.get("config")
        if isinstance(sums, dict) and not (set(sums) <= set(SAVED_SUMS) and all(
                isinstance(v, (int, float)) for v in sums.values())):
            bad.append("sums")
        if isinstance(best, dict) and set(best) != {"metric", "epoch"}:
            bad.append("best")
        if isinstance(config, dict) and not isinstance(config.get("train"), dict):
            bad.append("config")
        saved_grad = tensors.get("train/weight_grad")
        if saved_grad is None or saved_grad.shape != weight_grad.shape:
            bad.append("train/weight_grad")
        if bad:
            raise CheckpointError(
                f"{path} lacks a valid {', '.join(bad)} in its training state (it was edited or not written "
                f"by `enresnet train`); it cannot be resumed: restore the run's own last.safetensors or start a new run"
            )
        return cls(**{key: state[key] for key in _STATE_TYPES if key != "best"}, best=Best(**best))


_STATE_TYPES = {"epoch": int, "step": int, "best": dict, "sums": dict, "world_size": int, "config": dict}
"""The types of a ``train_state``'s entries as JSON holds them."""


def optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    buffers = {}
    for name, param in model.named_parameters():
        buf = optimizer.state.get(param, {}).get("momentum_buffer")
        if buf is not None:
            buffers[name] = buf
    return {f"optim/{name}": buf for name, buf in member_layout(model, buffers).items()}


def load_optimizer_tensors(
    model: nn.Module, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]
) -> None:
    """Restore the momentum buffers in place (tensors already in use, e.g. by a captured step, stay valid)."""
    buffers = fused_layout(model, {k[len("optim/") :]: v for k, v in tensors.items() if k.startswith("optim/")})
    for name, param in model.named_parameters():
        if name in buffers:
            value = buffers[name].to(param.device, param.dtype)
            state = optimizer.state[param]
            if state.get("momentum_buffer") is not None:
                state.get("momentum_buffer").copy_(value)
            else:
                state["momentum_buffer"] = value.clone()


def rng_tensors(ctx: DistContext, device: torch.device) -> dict[str, torch.Tensor]:
    """Every rank's RNG states (collective under DDP)."""
    tensors = {}
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    for kind, state in states.items():
        for rank, s in enumerate(ctx.all_gather(state)):
            tensors[f"rng/{kind}/{rank}"] = s
    return tensors


def restore_rng(tensors: dict[str, torch.Tensor], ctx: DistContext, device: torch.device) -> None:
    cpu = tensors.get(f"rng/cpu/{ctx.rank}")
    if cpu is not None:
        torch.set_rng_state(cpu)
    cuda = tensors.get(f"rng/cuda/{ctx.rank}")
    if cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda, device)
