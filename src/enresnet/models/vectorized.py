"""All members of an En_n ResNet in one batched call: ``torch.func.vmap`` over members.

The members of an En_n ResNet are copies of one architecture, so their forward
passes can run as one vectorised call instead of a Python loop: the members'
parameters and buffers are stacked along a new leading axis and
``vmap(functional_call(members[0], ...))`` maps the architecture over it.
Convolutions with a stacked weight become grouped convolutions, so each layer is
one kernel launch for all members.

Semantics are those of the loop ``torch.stack([m(x) for m in members])``:

* Gradients: the stacks are built with :func:`torch.stack` at every call, so
  gradients flow back to each member's own parameters (optimisers and
  checkpoints keep seeing the members).
* BatchNorm in train mode: ``vmap`` updates the stacked running statistics in
  place (each member's slice from its own batch statistics); they are copied
  back into the members afterwards.
* Noise injection: ``randomness="different"`` gives every member its own
  Gaussian draw, and the whole-tensor std of
  :class:`~enresnet.models.NoiseInjection` is taken per member (over that
  member's block output only), as in the loop. The random stream differs from
  the loop's, so with noise on the outputs agree in distribution, not draw by
  draw.

With noise off the logits and the updated BatchNorm statistics equal the loop's
bit for bit; gradients agree up to float rounding (about 1e-6 relative: the
grouped-convolution backward sums in another order).

Speed (docs/benchmarks.md): on a CPU it is slower than the loop. The CPU
convolutions are already busy at the loop's batch sizes, the grouped-convolution
backward is slower than the members' separate ones, and inside ``vmap`` the
activations are laid out member-minor, so ``torch.randn_like`` of the noise
misses the CPU's contiguous fast path (several times slower) and the per-member
std becomes a strided reduction. The path is meant for GPUs, where the loop
launches n times as many small kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from .noise import NoiseInjection


def _settings(module: nn.Module) -> object:
    if isinstance(module, NoiseInjection):
        return module.noise_coef, module.std_mode  # its on/off switch is a runtime flag
    return module.extra_repr()


def architecture(member: nn.Module) -> list[tuple]:
    """What must agree between members for :func:`stacked_member_logits`: modules, settings, tensors."""
    modules = [(name, type(m), _settings(m)) for name, m in member.named_modules()]
    tensors = [(name, t.shape, t.dtype, t.device) for name, t in (*member.named_parameters(), *member.named_buffers())]
    return modules + tensors


def check_identical(members: Sequence[nn.Module]) -> None:
    """Raise ``ValueError`` unless every member has the architecture of the first."""
    first = architecture(members[0])
    for i, member in enumerate(members[1:], start=1):
        if architecture(member) != first:
            raise ValueError(
                f"ensemble member {i} differs from member 0 in architecture, settings or tensor shapes/devices; "
                "only an ensemble of identical members (En_n ResNet) can be vectorised"
            )


def runtime_flags(member: nn.Module) -> list[tuple[bool, bool | None]]:
    """The switches a caller may flip at runtime: each module's train mode and noise switch."""
    return [(m.training, getattr(m, "enabled", None)) for m in member.modules()]


def same_runtime_flags(members: Sequence[nn.Module]) -> bool:
    """True when every member runs with the train/eval modes and noise switches of the first."""
    first = runtime_flags(members[0])
    return all(runtime_flags(m) == first for m in members[1:])


def _stack(members: Sequence[nn.Module], named: str) -> dict[str, torch.Tensor]:
    per_member = [dict(getattr(m, named)()) for m in members]
    return {name: torch.stack([d[name] for d in per_member]) for name in per_member[0]}


def stacked_member_logits(members: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """``torch.stack([m(x) for m in members])`` computed in one vmapped call (see module doc).

    The members must pass :func:`check_identical` and :func:`same_runtime_flags`.
    """
    base = members[0]
    params = _stack(members, "named_parameters")
    buffers = _stack(members, "named_buffers")

    def call(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (inputs,))

    out = vmap(call, in_dims=(0, 0, None), randomness="different")(params, buffers, x)
    if base.training and buffers:
        with torch.no_grad():
            for i, member in enumerate(members):
                for name, buffer in member.named_buffers():
                    buffer.copy_(buffers[name][i])
    return out
