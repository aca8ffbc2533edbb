"""The En_n ResNet (paper Sec. 3.1, Fig. 2): n jointly trained noise-injected ResNets, one network.

The n members are computed together by a :class:`~enresnet.models.resnet.FusedResNet`
with ``members = n`` (grouped convolutions over n x C channels, see
:mod:`enresnet.models.resnet`); the prediction is the average of the member
logits, ``sum_i w_i Z_i(x)`` with uniform weights ``w_i = 1/n`` — the
Monte-Carlo average of the Feynman-Kac formula (Eq. 14).

The function is that of a loop over n separate networks
(:class:`~enresnet.models.Ensemble` of n ``PreActResNet``): with noise off the
logits equal the loop's up to float rounding, with noise on every member draws
its own noise with its own std, as in the loop.

How the members run (``execution``) is chosen by device: ``"grouped"`` (the
grouped convolutions, one kernel per layer for all members) is the fast way on
a GPU; on a CPU the grouped convolution of the first stage is several times
slower than the members' own convolutions (docs/benchmarks.md), so there
``"auto"`` runs the members one after the other (``"loop"``), each through a
parameter-free template network with views of its slice of the fused tensors
(:func:`torch.func.functional_call`). Both compute the same function on the
same tensors; gradients and BatchNorm statistics land in the fused tensors.

One checkpoint format: :meth:`state_dict` speaks the loop's layout
(``members.<i>.<layer>``, plus ``weights``), and :meth:`load_state_dict` takes
it, so loop checkpoints load into the fused model and back. Member i's tensor
is the i-th block of rows of the fused tensor; BatchNorm's step counter and the
input normalisation are shared, so they are repeated for every member (and read
from member 0 on loading).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torch.func import functional_call

from .contract import weighted_logits
from .ensemble import Ensemble
from .noise import NoiseInjection
from .resnet import FusedResNet, PreActResNet

EXECUTIONS = ("auto", "grouped", "loop")

SHARED = ("input_mean", "input_std")
"""Tensors every member holds the same copy of (besides 0-dim counters)."""


def _is_shared(name: str, tensor: torch.Tensor) -> bool:
    return tensor.dim() == 0 or name in SHARED


class EnResNet(FusedResNet):
    """n noise-injected ResNets computed as one network; logits averaged (Sec. 3.1). An
    :class:`~enresnet.models.EnsembleModel` whose weights stay uniform."""

    learn_weights = False
    """The weights are the uniform 1/n of the Monte-Carlo average (Eq. 14), never learned."""

    def __init__(self, *args, members: int, **kwargs) -> None:
        super().__init__(*args, members=members, **kwargs)
        self._member_args = (args, kwargs)
        with torch.device("meta"):  # structure only: every tensor is supplied at call time
            object.__setattr__(self, "_template", PreActResNet(*args, **kwargs))
        self.execution = "auto"
        """How the members run: "grouped", "loop", or "auto" (grouped on CUDA, loop on CPU); see module doc."""
        self.register_buffer("weights", torch.full((members,), 1.0 / members))
        self.register_state_dict_post_hook(_to_member_layout)
        self.register_load_state_dict_pre_hook(_from_member_layout)

    def __len__(self) -> int:
        return self.num_members

    def combine(self, member_logits: torch.Tensor) -> torch.Tensor:
        """Weighted sum over the member axis (uniform weights 1/n)."""
        return weighted_logits(self.weights, member_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(self.member_logits(x))

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every member, (members, batch, classes), computed as :attr:`execution` says."""
        if self.execution not in EXECUTIONS:
            raise ValueError(f"EnResNet.execution must be one of {EXECUTIONS}, got {self.execution!r}")
        loop = self.execution == "loop" or (self.execution == "auto" and x.device.type != "cuda")
        if not loop or self.num_members == 1:
            return super().member_logits(x)
        template = self._synced_template()
        return torch.stack([functional_call(template, tensors, (x,)) for tensors in self._member_tensors()])

    def _synced_template(self) -> PreActResNet:
        """The template network with this model's train/eval mode and noise switches."""
        template = self._template.train(self.training)
        _copy_noise_switches(self, template)
        return template

    def _member_tensors(self) -> list[dict[str, torch.Tensor]]:
        """Every member's parameters and buffers: views of its rows of the fused tensors (split once)."""
        members: list[dict[str, torch.Tensor]] = [{} for _ in range(len(self))]
        for name, tensor in self._fused_tensors():
            parts = _member_parts(name, tensor, len(self))
            if tensor.dim() == 0:  # counters advance once per forward, not once per member
                parts = [tensor] + [tensor.clone() for _ in parts[1:]]
            for member, part in zip(members, parts):
                member[name] = part
        return members

    def as_ensemble(self) -> Ensemble:
        """The same model as a loop over n separate networks (an :class:`Ensemble`; a copy with the same
        weights, train/eval mode and noise switches)."""
        args, kwargs = self._member_args
        loop = Ensemble([PreActResNet(*args, **kwargs) for _ in range(self.num_members)])
        loop.load_state_dict(self.state_dict())
        for member in loop.members:
            _copy_noise_switches(self, member)
        return loop.to(self.weights.device).train(self.training)

    def _fused_tensors(self) -> list[tuple[str, torch.Tensor]]:
        """The fused parameters and buffers (every buffer of the network is persistent), ``weights`` left out."""
        return [(name, t) for name, t in (*self.named_parameters(), *self.named_buffers()) if name != "weights"]

    def fused_names(self) -> list[str]:
        """Names of the fused tensors (parameters and buffers) other than ``weights``."""
        return [name for name, _ in self._fused_tensors()]

    def to_member_layout(self, tensors: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
        """``{prefix + fused name: tensor}`` -> ``{prefix + "members.<i>." + name: member i's tensor}``.

        Keys without the prefix, or not fused names, pass through unchanged
        (e.g. ``weights``); used for the state dict and the optimiser's buffers.
        """
        fused = set(self.fused_names())
        out: dict[str, torch.Tensor] = {}
        split: dict[str, list[torch.Tensor]] = {}
        for key, tensor in tensors.items():
            name = key[len(prefix) :] if key.startswith(prefix) else None
            if name not in fused:
                out[key] = tensor
            else:
                split[name] = _member_parts(name, tensor, self.num_members)
        for i in range(self.num_members):
            for name, parts in split.items():
                out[f"{prefix}members.{i}.{name}"] = parts[i]
        return out

    def from_member_layout(self, tensors: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
        """The inverse of :meth:`to_member_layout`; a fused name with any member missing is left as it was."""
        out = dict(tensors)
        for name in self.fused_names():
            keys = [f"{prefix}members.{i}.{name}" for i in range(self.num_members)]
            if not all(key in out for key in keys):
                continue
            parts = [out.pop(key) for key in keys]
            out[prefix + name] = parts[0] if _is_shared(name, parts[0]) else torch.cat(parts)
        return out


def _member_parts(name: str, tensor: torch.Tensor, members: int) -> list[torch.Tensor]:
    """Member i's part of a fused tensor: its block of rows, or the tensor itself where it is shared."""
    return [tensor] * members if _is_shared(name, tensor) else list(tensor.chunk(members))


def _copy_noise_switches(source: nn.Module, target: nn.Module) -> None:
    """Give ``target``'s noise injections the on/off switches of ``source``'s, in order."""
    theirs = [m for m in target.modules() if isinstance(m, NoiseInjection)]
    for mine, other in zip([m for m in source.modules() if isinstance(m, NoiseInjection)], theirs):
        other.enabled = mine.enabled


def _to_member_layout(module: EnResNet, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    converted = module.to_member_layout(state_dict, prefix)
    state_dict.clear()
    state_dict.update(converted)


def _from_member_layout(module: EnResNet, state_dict: dict, prefix: str, *args) -> None:
    converted = module.from_member_layout(state_dict, prefix)
    state_dict.clear()
    state_dict.update(converted)


def fused_modules(model: nn.Module) -> list[tuple[str, EnResNet]]:
    """Every :class:`EnResNet` inside ``model`` with its name prefix (``""`` for the model itself)."""
    return [(f"{name}." if name else "", m) for name, m in model.named_modules() if isinstance(m, EnResNet)]


def member_layout(model: nn.Module, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors named after ``model``'s parameters, in the checkpoint (member) layout."""
    out = dict(tensors)
    for prefix, module in fused_modules(model):
        out = module.to_member_layout(out, prefix)
    return out


def fused_layout(model: nn.Module, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of :func:`member_layout`."""
    out = dict(tensors)
    for prefix, module in fused_modules(model):
        out = module.from_member_layout(out, prefix)
    return out
