"""Resumable training state inside ``last.safetensors``.

Besides the model's tensors the checkpoint holds the SGD momentum buffers
(``optim/<param>``, named and laid out as the model's state dict: an En_n
ResNet's buffers per member), every rank's RNG states (``rng/cpu/<rank>``,
``rng/cuda/<rank>``) and the epoch's running sums, so that ``--resume``
continues exactly where the run stopped: same data order (a function of seed,
epoch and step), same noise draws, same optimiser state.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import fused_layout, member_layout
from .distributed import DistContext


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
            if "momentum_buffer" in state and state["momentum_buffer"] is not None:
                state["momentum_buffer"].copy_(value)
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
