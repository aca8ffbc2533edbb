"""Gaussian noise injection after a residual addition (paper Sec. 3.1, Fig. 1b).

The modified residual mapping is

    x_{l+1} = x_l + F(x_l) + a * std(x_l + F(x_l)) * N(0, I),

the Euler-Maruyama step of dX = F(X) dt + sigma dB whose Feynman-Kac average
(Eq. 14) the ensemble approximates. ``a`` is ``noise_coef`` (paper: 0.1).

As in the authors' code the std is taken over the whole output tensor (batch
included) and gradients flow through it. ``std_mode="sample"`` takes it per
sample instead, so that a sample's noise scale does not depend on the rest of
its batch. Noise is on in train *and* eval mode: every forward pass is one
Monte-Carlo sample. Use :func:`set_noise` or :func:`noise_disabled` to switch
it off at runtime (ablations, gradient checks, deterministic evaluation).

``members`` serves an En_n ResNet computed as one network
(:class:`~enresnet.models.EnResNet`): the channels are n equal groups, one per
member, and the std is taken per member (over that member's channels of the
whole tensor, or of each sample), exactly as n separate injections would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

STD_MODES = ("tensor", "sample")


class NoiseInjection(nn.Module):
    """Adds ``noise_coef * std(x) * N(0, I)`` to ``x`` while enabled."""

    def __init__(self, noise_coef: float = 0.1, std_mode: str = "tensor", members: int = 1) -> None:
        super().__init__()
        if noise_coef < 0:
            raise ValueError(f"noise_coef must be >= 0, got {noise_coef}")
        if std_mode not in STD_MODES:
            raise ValueError(f"std_mode must be one of {STD_MODES}, got {std_mode!r}")
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        self.noise_coef = float(noise_coef)
        self.std_mode = std_mode
        self.members = int(members)
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled or self.noise_coef == 0.0:
            return x
        return x + self.noise_coef * self.scale(x) * torch.randn_like(x)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """The std of the noise, broadcastable to ``x`` (N, C, ...): per member, whole tensor or per sample."""
        n, c, rest = x.shape[0], x.shape[1], [1] * (x.dim() - 2)
        if self.members == 1:
            if self.std_mode == "tensor":
                return x.std()
            return x.flatten(1).std(dim=1).view(n, 1, *rest)
        groups = x.unflatten(1, (self.members, c // self.members))  # (N, members, C / members, ...)
        if self.std_mode == "tensor":
            dims = (0, *range(2, groups.dim()))
            per_member = groups.std(dim=dims)  # (members,)
            return per_member.repeat_interleave(c // self.members).view(1, c, *rest)
        per_sample = groups.flatten(2).std(dim=2)  # (N, members)
        return per_sample.repeat_interleave(c // self.members, dim=1).view(n, c, *rest)

    def extra_repr(self) -> str:
        members = f", members={self.members}" if self.members > 1 else ""
        return f"noise_coef={self.noise_coef}, std_mode={self.std_mode!r}{members}, enabled={self.enabled}"


def set_noise(model: nn.Module, enabled: bool) -> None:
    """Switch every :class:`NoiseInjection` inside ``model`` on or off."""
    for module in model.modules():
        if isinstance(module, NoiseInjection):
            module.enabled = enabled


def has_noise(model: nn.Module) -> bool:
    """True when some enabled injection in ``model`` has a non-zero coefficient."""
    return any(
        isinstance(m, NoiseInjection) and m.enabled and m.noise_coef > 0 for m in model.modules()
    )


@contextlib.contextmanager
def noise_disabled(model: nn.Module) -> Iterator[nn.Module]:
    """Context manager: run ``model`` without noise, restoring each switch afterwards."""
    injections = [m for m in model.modules() if isinstance(m, NoiseInjection)]
    previous = [m.enabled for m in injections]
    try:
        for m in injections:
            m.enabled = False
        yield model
    finally:
        for m, state in zip(injections, previous):
            m.enabled = state
