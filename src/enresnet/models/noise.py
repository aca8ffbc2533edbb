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


def member_std(x: torch.Tensor, members: int, per_sample: bool) -> torch.Tensor:
    """Unbiased std of each member's channels of ``x`` (N, C, H, W): shape (1, members), or (N, members).

    The whole-tensor std of each member is, on a CPU, that member's channel
    slice's ``std()`` (the loop's own arithmetic; a full reduction is several
    times faster there than a reduction along a dimension). On a GPU, and per
    sample, it is pooled from contiguous rows of the tensor's memory layout —
    (sample, member) rows of C/members x H x W values in NCHW, (sample, pixel,
    member) rows of C/members values in channels_last — whose means and biased
    variances combine exactly: var = sum_r K (v_r + (m_r - m)^2) / (count - 1)
    over rows r of K values. One kernel for all members.
    """
    if not per_sample and x.device.type == "cpu":
        return torch.stack([part.std() for part in x.chunk(members, dim=1)]).view(1, members)
    return pooled_member_std(x, members, per_sample)


def pooled_member_std(x: torch.Tensor, members: int, per_sample: bool) -> torch.Tensor:
    """:func:`member_std` pooled from row statistics (one kernel for all members)."""
    n, c, h, w = x.shape
    k = c // members
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        rows = x.permute(0, 2, 3, 1).reshape(n, h * w, members, k)  # a view: channels are innermost
        var, mean = torch.var_mean(rows, dim=3, correction=0)  # (N, HW, members)
        var, mean = var.transpose(1, 2), mean.transpose(1, 2)  # (N, members, HW)
    else:
        var, mean = torch.var_mean(x.reshape(n, members, k * h * w), dim=2, correction=0, keepdim=True)
    pooled = (0, 2) if not per_sample else (2,)
    group_mean = mean.mean(dim=pooled, keepdim=True)
    count = k * h * w * (n if not per_sample else 1)
    total = (var + (mean - group_mean).square()).mean(dim=pooled) * count  # sum of squared deviations
    return (total / (count - 1)).sqrt().reshape(-1 if per_sample else 1, members)


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
            return x + self.noise_coef * self.scale(x) * torch.randn_like(x)
        return torch.addcmul(x, self.noise_coef * self.scale(x), torch.randn_like(x))

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """The std of the noise, broadcastable to ``x`` (N, C, H, W): per member, whole tensor or per sample."""
        n, c = x.shape[0], x.shape[1]
        if self.members == 1:
            if self.std_mode == "tensor":
                return x.std()
            return x.flatten(1).std(dim=1).view(n, 1, 1, 1)
        std = member_std(x, self.members, per_sample=self.std_mode == "sample")  # (N or 1, members)
        rows = std.shape[0]  # expand, not repeat_interleave: nothing read back (CUDA-graph safe)
        return std.view(rows, self.members, 1).expand(rows, self.members, c // self.members).reshape(rows, c, 1, 1)

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
