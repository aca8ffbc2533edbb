"""Pre-activation CIFAR ResNets and Wide ResNets with noise injection.

Block (paper Eq. 4, Fig. 3a): BN-ReLU-conv3x3-BN-ReLU-conv3x3, with a 1x1
projection shortcut taken from the pre-activated input when the shape changes
(He et al. 2016, "Identity mappings"). After the residual addition the block
applies :class:`~enresnet.models.noise.NoiseInjection` (Fig. 1b).

The depth and width rules (CIFAR ResNet of depth 6n+2: n blocks per stage, widths 16/32/64; Wide ResNet
WRN-d-k: widths 16k/32k/64k) are those of :mod:`enresnet.model_names`, which checks a name without torch.

The network maps pixels in [0, 1] to logits; an optional per-channel
normalisation lives inside the model so that every attack works in pixel space.

:class:`FusedResNet` computes n independent copies of the network as ONE network
(the En_n ResNet of Sec. 3.1, :class:`~enresnet.models.EnResNet`): the stem
convolution has n x 16 output channels (the input seen by every member), every
later convolution has ``groups = n`` over n x C channels, BatchNorm runs over
the n x C channels (per channel, so per member), the noise std is taken per
member, and the head is one batched matrix product. Member i owns the i-th
block of channels of every layer; nothing mixes members. Its output is every
member's logits (:meth:`FusedResNet.member_logits`); it has no ``forward``, so
no caller gets one member's logits for the model's. :class:`PreActResNet` is
the one network (``members = 1``, its logits). One kernel per layer for all members instead of n:
on a GPU at batch 128 a ResNet20 layer is too small to fill the card, and the
member loop's launches dominate (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..model_names import STAGE_WIDTHS, STEM_WIDTH, resnet_blocks, wide_resnet_blocks, wide_resnet_widths
from .noise import NoiseInjection


class MemberLinear(nn.Module):
    """``members`` independent linear heads: (N, members * in) -> (members, N, out).

    Weight (members * out, in) and bias (members * out): member i's head is the
    i-th block of rows, so the layout of each member is that of ``nn.Linear``
    (and so is the initialisation).
    """

    def __init__(self, members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.members, self.in_features, self.out_features = members, in_features, out_features
        self.weight = nn.Parameter(torch.empty(members * out_features, in_features))
        self.bias = nn.Parameter(torch.empty(members * out_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's initialisation
        bound = 1 / math.sqrt(in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.members == 1:
            return F.linear(x, self.weight, self.bias).unsqueeze(0)
        m, k = self.members, self.out_features
        features = x.view(x.shape[0], m, self.in_features).transpose(0, 1)  # (members, N, in)
        weight = self.weight.view(m, k, self.in_features).transpose(1, 2)  # (members, in, out)
        return torch.baddbmm(self.bias.view(m, 1, k), features, weight)

    def extra_repr(self) -> str:
        return f"members={self.members}, in_features={self.in_features}, out_features={self.out_features}"


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
        members: int = 1,
    ) -> None:
        super().__init__()
        m = members
        self.bn1 = nn.BatchNorm2d(m * in_planes)
        self.conv1 = nn.Conv2d(m * in_planes, m * planes, 3, stride, 1, bias=False, groups=m)
        self.bn2 = nn.BatchNorm2d(m * planes)
        self.conv2 = nn.Conv2d(m * planes, m * planes, 3, 1, 1, bias=False, groups=m)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut = (
            nn.Conv2d(m * in_planes, m * planes, 1, stride, bias=False, groups=m)
            if stride != 1 or in_planes != planes
            else None
        )
        self.noise = NoiseInjection(noise_coef, std_mode, members=m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = torch.relu(self.bn1(x))
        residual = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.dropout(torch.relu(self.bn2(out))))
        return self.noise(out + residual)


class FusedResNet(nn.Module):
    """``members`` copies of conv3x3 -> three stages of :class:`PreActBlock` -> BN-ReLU -> GAP -> linear,
    computed as one network (module doc); :meth:`member_logits` gives every copy's logits."""

    def __init__(
        self,
        blocks_per_stage: int,
        widths: Sequence[int],
        num_classes: int = 10,
        in_channels: int = 3,
        noise_coef: float = 0.0,
        std_mode: str = "tensor",
        stem_width: int = STEM_WIDTH,
        dropout: float = 0.0,
        input_mean: Sequence[float] | None = None,
        input_std: Sequence[float] | None = None,
        *,
        members: int,
    ) -> None:
        super().__init__()
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        self.num_members = members
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
        self.conv1 = nn.Conv2d(in_channels, members * stem_width, 3, 1, 1, bias=False)
        stages = []
        in_planes = stem_width
        for stage, width in enumerate(widths):
            blocks = []
            for i in range(blocks_per_stage):
                stride = 2 if (stage > 0 and i == 0) else 1
                blocks.append(PreActBlock(in_planes, width, stride, noise_coef, std_mode, dropout, members))
                in_planes = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(members * in_planes)
        self.fc = MemberLinear(members, in_planes, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                for member_weight in m.weight.data.chunk(self.num_members):  # each member's fan-out
                    nn.init.kaiming_normal_(member_weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every member: shape (members, batch, classes)."""
        if self.input_mean is not None:
            x = (x - self.input_mean) / self.input_std
        out = self.stages(self.conv1(x))
        out = torch.relu(self.bn(out))
        return self.fc(torch.flatten(torch.mean(out, dim=(2, 3)), 1))


class PreActResNet(FusedResNet):
    """One pre-activation ResNet: conv3x3 -> three stages of :class:`PreActBlock` -> BN-ReLU -> GAP -> linear.

    Takes the arguments of :class:`FusedResNet` but ``members``: n copies as one network are an
    :class:`~enresnet.models.EnResNet`, whose output combines every member's logits.
    """

    def __init__(self, *args, **kwargs) -> None:
        if "members" in kwargs:
            raise TypeError("PreActResNet is one network and takes no 'members'; n copies computed as one network "
                            "are an EnResNet (enresnet.models.EnResNet, or create_model('en<n>_resnet20'))")
        super().__init__(*args, members=1, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.member_logits(x)[0]


def cifar_resnet(depth: int, network: type[FusedResNet] = PreActResNet, **kwargs) -> FusedResNet:
    """Pre-activation CIFAR ResNet of depth 6n+2 (ResNet20: n=3, ResNet110: n=18).

    ``network`` is the class built (:class:`~enresnet.models.EnResNet` for n copies as one network).
    """
    return network(resnet_blocks(depth), STAGE_WIDTHS, **kwargs)


def wide_resnet(depth: int, widen: int, network: type[FusedResNet] = PreActResNet, **kwargs) -> FusedResNet:
    """Wide ResNet WRN-depth-widen (WRN-34-10: n=5, WRN-14-2: n=2); ``network`` as in :func:`cifar_resnet`."""
    widths = wide_resnet_widths(widen)
    return network(wide_resnet_blocks(depth), widths, **kwargs)
