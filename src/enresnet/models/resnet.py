"""Pre-activation CIFAR ResNets and Wide ResNets with noise injection.

Block (paper Eq. 4, Fig. 3a): BN-ReLU-conv3x3-BN-ReLU-conv3x3, with a 1x1
projection shortcut taken from the pre-activated input when the shape changes
(He et al. 2016, "Identity mappings"). After the residual addition the block
applies :class:`~enresnet.models.noise.NoiseInjection` (Fig. 1b).

* CIFAR ResNet of depth 6n+2: n blocks per stage, widths 16/32/64
  (ResNet20 ~0.27M parameters, ResNet44 ~0.66M, paper Sec. 4.5).
* Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016): n blocks per stage, widths
  16k/32k/64k. Depth 6n+4 is Zagoruyko's count (WRN-34-10: n=5, ~46M
  parameters). The paper's WRN-14-2 (~0.69M, Sec. 4.3) is not of that form; it
  matches n=2, i.e. the CIFAR-ResNet count 6n+2, which is used for depths that
  are 6n+2 but not 6n+4.

The network maps pixels in [0, 1] to logits; an optional per-channel
normalisation lives inside the model so that every attack works in pixel space.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .noise import NoiseInjection


class PreActBlock(nn.Module):
    """Noise-injected pre-activation basic block: ``x + F(x) + a*std*N(0,I)``."""

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int,
        noise_coef: float,
        std_mode: str,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut = (
            nn.Conv2d(in_planes, planes, 1, stride, bias=False)
            if stride != 1 or in_planes != planes
            else None
        )
        self.noise = NoiseInjection(noise_coef, std_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = torch.relu(self.bn1(x))
        residual = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.dropout(torch.relu(self.bn2(out))))
        return self.noise(out + residual)


class PreActResNet(nn.Module):
    """conv3x3 -> three stages of :class:`PreActBlock` -> BN-ReLU -> GAP -> linear."""

    def __init__(
        self,
        blocks_per_stage: int,
        widths: Sequence[int],
        num_classes: int = 10,
        in_channels: int = 3,
        noise_coef: float = 0.0,
        std_mode: str = "tensor",
        stem_width: int = 16,
        dropout: float = 0.0,
        input_mean: Sequence[float] | None = None,
        input_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if blocks_per_stage < 1:
            raise ValueError(f"blocks_per_stage must be >= 1, got {blocks_per_stage}")
        if (input_mean is None) != (input_std is None):
            raise ValueError("give both input_mean and input_std, or neither")
        if input_mean is not None:
            shape = (1, in_channels, 1, 1)
            self.register_buffer("input_mean", torch.tensor(input_mean, dtype=torch.float32).view(shape))
            self.register_buffer("input_std", torch.tensor(input_std, dtype=torch.float32).view(shape))
        else:
            self.input_mean = None
            self.input_std = None
        self.conv1 = nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False)
        stages = []
        in_planes = stem_width
        for stage, width in enumerate(widths):
            blocks = []
            for i in range(blocks_per_stage):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(PreActBlock(in_planes, width, stride, noise_coef, std_mode, dropout))
                in_planes = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(in_planes)
        self.fc = nn.Linear(in_planes, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_mean is not None:
            x = (x - self.input_mean) / self.input_std
        out = self.stages(self.conv1(x))
        out = torch.relu(self.bn(out))
        return self.fc(torch.flatten(torch.mean(out, dim=(2, 3)), 1))


def cifar_resnet(depth: int, **kwargs) -> PreActResNet:
    """Pre-activation CIFAR ResNet of depth 6n+2 (ResNet20: n=3, ResNet110: n=18)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
    return PreActResNet((depth - 2) // 6, (16, 32, 64), **kwargs)


def wide_resnet_blocks(depth: int) -> int:
    """Blocks per stage of WRN-depth: (depth-4)/6, else (depth-2)/6 (see module doc)."""
    for offset in (4, 2):
        if depth >= 8 and (depth - offset) % 6 == 0:
            return (depth - offset) // 6
    raise ValueError(
        f"Wide ResNet depth must be 6n+4 (10, 16, 22, 28, 34, ...) or 6n+2 (14, 20, ...), got {depth}"
    )


def wide_resnet(depth: int, widen: int, **kwargs) -> PreActResNet:
    """Wide ResNet WRN-depth-widen (WRN-34-10: n=5, WRN-14-2: n=2)."""
    if widen < 1:
        raise ValueError(f"Wide ResNet widen factor must be >= 1, got {widen}")
    return PreActResNet(wide_resnet_blocks(depth), (16 * widen, 32 * widen, 64 * widen), **kwargs)
