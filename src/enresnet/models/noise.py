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


def in_memory_order(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself, or for a channels_last tensor its NHWC view (contiguous): for whole-tensor reductions."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1)
    return x


def standard_normal_like(x: torch.Tensor) -> torch.Tensor:
    """I.i.d. N(0, 1) noise with the shape, dtype and memory layout of ``x``.

    Drawn on a buffer that is contiguous in ``x``'s memory order: on a CPU,
    ``randn_like`` of a channels_last tensor misses the vectorised path (6x slower).
    """
    ordered = in_memory_order(x)
    if ordered is x:
        return torch.randn_like(x)
    return torch.randn_like(ordered).permute(0, 3, 1, 2)


def member_view(x: torch.Tensor, members: int) -> torch.Tensor:
    """A 4-D view (N, A, members, B) of ``x`` (N, C, H, W) whose [:, :, j, :] holds member j's channels.

    NCHW: (N, 1, members, C/members x H x W); channels_last: (N, H x W, members,
    C/members). A view in both layouts, so a reduction over dims (0, 1, 3) is a
    member's whole tensor, in one kernel.
    """
    n, c, h, w = x.shape
    ordered = in_memory_order(x)
    if ordered is x:
        return x.contiguous().view(n, 1, members, (c // members) * h * w)
    return ordered.view(n, h * w, members, c // members)


def from_member_view(view: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`member_view`: back to the (N, C, H, W) shape and memory layout of ``like``."""
    n, c, h, w = like.shape
    if view.shape[1] == 1:
        return view.view(n, c, h, w)
    return view.view(n, h, w, c).permute(0, 3, 1, 2)


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
        if self.members == 1:
            if self.std_mode == "tensor":
                # the same elements, read contiguously, accumulated in fp32 (bf16 reductions are slow on CPUs)
                scale = in_memory_order(x).float().std().to(x.dtype)
            else:
                scale = x.flatten(1).std(dim=1).view(-1, *([1] * (x.dim() - 1)))
            return x + self.noise_coef * scale * standard_normal_like(x)
        view = member_view(x, self.members)  # contiguous in memory: randn_like takes the fast path
        scale = self.scale(x, view)
        return from_member_view(torch.addcmul(view, scale, torch.randn_like(view), value=self.noise_coef), x)

    def scale(self, x: torch.Tensor, view: torch.Tensor | None = None) -> torch.Tensor:
        """The std of each member's block output: (1, 1, members, 1), per sample (N, 1, members, 1).

        Unbiased, over the member's whole tensor (or each sample's part of it),
        as ``x_member.std()`` of a separate network; ``view`` is :func:`member_view` of ``x``.
        """
        view = member_view(x, self.members) if view is None else view
        return view.std(dim=(0, 1, 3) if self.std_mode == "tensor" else (1, 3), keepdim=True)

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
