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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

STD_MODES = ("tensor", "sample")


class NoiseInjection(nn.Module):
    """Adds ``noise_coef * std(x) * N(0, I)`` to ``x`` while enabled."""

    def __init__(self, noise_coef: float = 0.1, std_mode: str = "tensor") -> None:
        super().__init__()
        if noise_coef < 0:
            raise ValueError(f"noise_coef must be >= 0, got {noise_coef}")
        if std_mode not in STD_MODES:
            raise ValueError(f"std_mode must be one of {STD_MODES}, got {std_mode!r}")
        self.noise_coef = float(noise_coef)
        self.std_mode = std_mode
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled or self.noise_coef == 0.0:
            return x
        if self.std_mode == "tensor":
            scale = x.std()
        else:
            scale = x.flatten(1).std(dim=1).view(-1, *([1] * (x.dim() - 1)))
        return x + self.noise_coef * scale * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"noise_coef={self.noise_coef}, std_mode={self.std_mode!r}, enabled={self.enabled}"


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
