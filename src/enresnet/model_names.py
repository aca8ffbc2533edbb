"""Model names and parameter counts without torch: the grammar of
:mod:`enresnet.models.registry`, :func:`list_models`, and :func:`parameter_count`
(what ``enresnet models`` prints, computed from the architecture instead of by
building the models: an En5 WRN-34-10 has 230M parameters, 0.9 GB of fp32).

Tests check every count against the built models.
"""

from __future__ import annotations

import re

SINGLE = re.compile(r"^(?:en(?P<n>[1-9]\d*)_)?(?:resnet(?P<depth>\d+)|wrn(?P<wdepth>\d+)_(?P<widen>\d+))$")
"""One network of the grammar: ``[en<N>_]resnet<depth>`` or ``[en<N>_]wrn<depth>_<widen>``."""

NAME_FORMS = (
    "resnet<6n+2> (e.g. resnet20), wrn<depth>_<widen> (e.g. wrn34_10, wrn14_2), "
    "en<N>_<arch> for an ensemble of N noise-injected copies (e.g. en5_resnet20, en1_wrn34_10), "
    "and '+' between such names for a weighted ensemble of different members "
    "(e.g. en1_resnet20+en1_resnet32)"
)

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


def _architecture(match: re.Match) -> tuple[int, tuple[int, int, int]] | None:
    """(blocks per stage, stage widths) as :func:`~enresnet.models.cifar_resnet` and
    :func:`~enresnet.models.wide_resnet` choose them; None where they raise."""
    if match["depth"] is not None:
        depth = int(match["depth"])
        return None if depth < 8 or (depth - 2) % 6 else ((depth - 2) // 6, (16, 32, 64))
    depth, widen = int(match["wdepth"]), int(match["widen"])
    if widen < 1 or depth < 8:
        return None
    offset = 4 if (depth - 4) % 6 == 0 else 2 if (depth - 2) % 6 == 0 else None  # 6n+4 first (Zagoruyko)
    return None if offset is None else ((depth - offset) // 6, (16 * widen, 32 * widen, 64 * widen))


def _network_parameters(blocks: int, widths: tuple[int, ...], num_classes: int, in_channels: int) -> int:
    """Parameters of one pre-activation (Wide) ResNet as :class:`~enresnet.models.PreActResNet` builds it."""
    stem = 16
    count = in_channels * stem * 9  # conv3x3 stem, no bias
    in_planes = stem
    for stage, width in enumerate(widths):
        for i in range(blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            count += 2 * in_planes + 9 * in_planes * width  # bn1, conv1
            count += 2 * width + 9 * width * width  # bn2, conv2
            if stride != 1 or in_planes != width:
                count += in_planes * width  # 1x1 projection shortcut
            in_planes = width
    return count + 2 * in_planes + in_planes * num_classes + num_classes  # final BN, linear head


def parameter_count(name: str, num_classes: int = 10, in_channels: int = 3) -> int:
    """Trainable parameters of ``create_model(name, num_classes, in_channels)``, without building it.

    An En_n network has n times the parameters of its member (grouped convolutions); a ``+``
    ensemble the sum of its parts (its weights are a buffer). A name that ``create_model``
    rejects raises :class:`UnknownModelError` with the registry's own message.
    """
    total = 0
    for part in name.split("+"):
        match = SINGLE.match(part.strip())
        architecture = None if match is None else _architecture(match)
        if match is None or architecture is None:
            import torch

            from .models import create_model

            with torch.device("meta"):  # raises the registry's message
                create_model(name, num_classes=num_classes, in_channels=in_channels)
            raise AssertionError(f"model_names rejects {part!r}, the registry accepts it")  # pragma: no cover
        members = int(match["n"] or 1)
        total += members * _network_parameters(*architecture, num_classes, in_channels)
    return total
