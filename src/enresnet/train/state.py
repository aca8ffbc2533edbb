"""Resumable training state inside ``last.safetensors``.

Besides the model's tensors the checkpoint holds the SGD momentum buffers
(``optim/<param>``), every rank's RNG states (``rng/cpu/<rank>``,
``rng/cuda/<rank>``) and the epoch's running sums, so that ``--resume``
continues exactly where the run stopped: same data order (a function of seed,
epoch and step), same noise draws, same optimiser state.
"""

from __future__ import annotations

import torch
from torch import nn

from .distributed import DistContext


def optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors = {}
    for name, param in model.named_parameters():
        buf = optimizer.state.get(param, {}).get("momentum_buffer")
        if buf is not None:
            tensors[f"optim/{name}"] = buf
    return tensors


def load_optimizer_tensors(model: nn.Module, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    for name, param in model.named_parameters():
        key = f"optim/{name}"
        if key in tensors:
            optimizer.state[param]["momentum_buffer"] = tensors[key].to(param.device, param.dtype).clone()


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
