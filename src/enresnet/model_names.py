"""The architecture rules, without torch: model names, the networks they stand for, and parameter counts.

The one place that knows how a name becomes a network (:mod:`enresnet.models` builds what
:func:`architecture` describes): the pre-activation CIFAR ResNet of depth 6n+2 has n blocks per stage of
widths 16/32/64 (paper Sec. 4.3-4.5, He et al. 2016); the Wide ResNet WRN-d-k has widths 16k/32k/64k and
n = (d-4)/6 blocks per stage (Zagoruyko & Komodakis 2016; WRN-34-10: n = 5), or (d-2)/6 for the depths
that are 6n+2 but not 6n+4 (the paper's WRN-14-2, ~0.69M parameters, Sec. 4.3: n = 2); ``en<N>_`` makes
an En_N ResNet (Sec. 3.1: N noise-injected copies, logits averaged), ``+`` the ensemble of different
ResNets (Sec. 5). :func:`architecture` checks a name without building anything, and
:func:`parameter_count` (what ``enresnet models`` prints) is computed from it: an En5 WRN-34-10 has 230M
parameters, 0.9 GB of fp32. Tests check every count against the built models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SINGLE = re.compile(r"^(?:en(?P<n>[1-9]\d*)_)?(?:resnet(?P<depth>\d+)|wrn(?P<wdepth>\d+)_(?P<widen>\d+))$")
"""One network of the grammar: ``[en<N>_]resnet<depth>`` or ``[en<N>_]wrn<depth>_<widen>``."""

NAME_FORMS = (
    "resnet<6n+2> (e.g. resnet20), wrn<depth>_<widen> (e.g. wrn34_10, wrn14_2), "
    "en<N>_<arch> for an ensemble of N noise-injected copies (e.g. en5_resnet20, en1_wrn34_10), "
    "and '+' between such names for a weighted ensemble of different members "
    "(e.g. en1_resnet20+en1_resnet32)"
)

STAGE_WIDTHS = (16, 32, 64)
"""Widths of the three stages of a CIFAR ResNet; a Wide ResNet multiplies them by its widen factor."""
STEM_WIDTH = 16
"""Output channels of the first convolution."""

_LISTED_ARCHS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "wrn14_2", "wrn34_10")
_LISTED_SIZES = (1, 2, 5)


class UnknownModelError(ValueError):
    """A model name that the grammar of :mod:`enresnet.models.registry` rejects."""


def list_models() -> list[str]:
    """Canonical model names (any name of the grammar above is accepted too)."""
    names = list(_LISTED_ARCHS)
    names += [f"en{n}_{arch}" for arch in _LISTED_ARCHS for n in _LISTED_SIZES]
    names.append("en1_resnet20+en1_resnet32")
    return names


def resnet_blocks(depth: int) -> int:
    """Blocks per stage of the CIFAR ResNet of depth 6n+2 (ResNet20: 3, ResNet110: 18); else a ValueError."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
    return (depth - 2) // 6


def wide_resnet_blocks(depth: int) -> int:
    """Blocks per stage of WRN-depth: (depth-4)/6, else (depth-2)/6 (see module doc); else a ValueError."""
    for offset in (4, 2):
        if depth >= 8 and (depth - offset) % 6 == 0:
            return (depth - offset) // 6
    raise ValueError(
        f"Wide ResNet depth must be 6n+4 (10, 16, 22, 28, 34, ...) or 6n+2 (14, 20, ...), got {depth}"
    )


def wide_resnet_widths(widen: int) -> tuple[int, ...]:
    """Stage widths of a Wide ResNet of widen factor ``widen`` (>= 1, else a ValueError)."""
    if widen < 1:
        raise ValueError(f"Wide ResNet widen factor must be >= 1, got {widen}")
    return tuple(widen * width for width in STAGE_WIDTHS)


def network_parameters(blocks: int, widths: tuple[int, ...], num_classes: int, in_channels: int,
                       stem_width: int = STEM_WIDTH) -> int:
    """Parameters of one pre-activation (Wide) ResNet as :class:`~enresnet.models.PreActResNet` builds it."""
    count = in_channels * stem_width * 9  # conv3x3 stem, no bias
    in_planes = stem_width
    for stage, width in enumerate(widths):
        for i in range(blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            count += 2 * in_planes + 9 * in_planes * width  # bn1, conv1
            count += 2 * width + 9 * width * width  # bn2, conv2
            if stride != 1 or in_planes != width:
                count += in_planes * width  # 1x1 projection shortcut
            in_planes = width
    return count + 2 * in_planes + in_planes * num_classes + num_classes  # final BN, linear head


@dataclass(frozen=True)
class Network:
    """One network of a model name: ``blocks`` per stage of ``widths`` channels; ``members`` is the N of an
    En_N ResNet (N noise-injected copies computed as one network), None for a plain ResNet (no noise)."""

    name: str
    blocks: int
    widths: tuple[int, ...]
    members: int | None

    def parameters(self, num_classes: int = 10, in_channels: int = 3) -> int:
        """Trainable parameters: N times the member's for an En_N network (grouped convolutions)."""
        return (self.members or 1) * network_parameters(self.blocks, self.widths, num_classes, in_channels)


@dataclass(frozen=True)
class Architecture:
    """What a model name stands for: one network, or (``+``) the weighted ensemble of several (Sec. 5)."""

    name: str
    networks: tuple[Network, ...]

    def parameters(self, num_classes: int = 10, in_channels: int = 3) -> int:
        """Trainable parameters: the sum over the networks (an ensemble's weights are a buffer)."""
        return sum(network.parameters(num_classes, in_channels) for network in self.networks)


def network(name: str) -> Network:
    """The network one name of the grammar (no ``+``) stands for; anything else is an :class:`UnknownModelError`."""
    match = SINGLE.match(name)
    if match is None:
        raise UnknownModelError(f"unknown model name {name!r}; valid forms: {NAME_FORMS}")
    members = None if match["n"] is None else int(match["n"])
    try:
        if match["depth"] is not None:
            return Network(name, resnet_blocks(int(match["depth"])), STAGE_WIDTHS, members)
        widths = wide_resnet_widths(int(match["widen"]))
        return Network(name, wide_resnet_blocks(int(match["wdepth"])), widths, members)
    except ValueError as err:
        raise UnknownModelError(f"model name {name!r}: {err}; valid forms: {NAME_FORMS}") from None


def architecture(name: str) -> Architecture:
    """Check ``name`` without building anything: what it stands for, or an :class:`UnknownModelError` saying
    why it is refused and the valid forms (the message ``create_model`` gives)."""
    if not isinstance(name, str) or not name:
        raise UnknownModelError(f"model name must be a non-empty string; valid forms: {NAME_FORMS}")
    return Architecture(name, tuple(network(part.strip()) for part in name.split("+")))


def parameter_count(name: str, num_classes: int = 10, in_channels: int = 3) -> int:
    """Trainable parameters of ``create_model(name, num_classes, in_channels)``, without building it.

    An En_n network has n times the parameters of its member (grouped convolutions); a ``+``
    ensemble the sum of its parts (its weights are a buffer). A name that ``create_model``
    rejects raises :class:`UnknownModelError` with the registry's own message.
    """
    return architecture(name).parameters(num_classes, in_channels)
