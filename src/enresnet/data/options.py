"""The loader options each dataset takes (``data.options`` in a config), checked before any work.

A key a loader does not take, a value of the wrong type or out of its range is a
:class:`~enresnet.errors.ConfigError` naming ``data.options.KEY`` and what is
allowed. :func:`image_shape` gives the (channels, height, width) a dataset's
images will have, so that a config can be checked against it without loading.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import ConfigError

DEFAULT_DATA_DIR = "data"
"""The data directory of a config that names none; for Fashion-MNIST it may fall back to the system copy
(:data:`enresnet.data.fashion_mnist.SYSTEM_DIR`)."""

SEED_LIMIT = 2**63
"""Seeds are integers in [0, 2**63)."""

MAX_SYNTHETIC_BYTES = 2**31
"""The most uint8 pixels a synthetic dataset may hold (2 GiB)."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


OPTIONS: dict[str, dict[str, tuple[Any, str]]] = {
    "synthetic": {
        "num_samples": (lambda v: _is_int(v) and 1 <= v <= 10**7, "an integer in [1, 10**7]"),
        "num_classes": (lambda v: _is_int(v) and 2 <= v <= 1000, "an integer in [2, 1000]"),
        "channels": (lambda v: _is_int(v) and 1 <= v <= 64, "an integer in [1, 64]"),
        "size": (lambda v: _is_int(v) and 1 <= v <= 512, "an integer in [1, 512] (pixels)"),
        "noise": (lambda v: _is_number(v) and 0 <= v <= 10, "a number in [0, 10]"),
        "seed": (lambda v: _is_int(v) and 0 <= v < SEED_LIMIT, "an integer in [0, 2**63)"),
    },
    "cifar10": {
        "url": (lambda v: isinstance(v, str) and bool(v), "a URL or file path of the archive"),
        "md5": (lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32}", v) is not None, "32 hex digits"),
    },
    "fashion_mnist": {},
}
OPTIONS["cifar100"] = OPTIONS["cifar10"]

_SHAPES = {"cifar10": (3, 32, 32), "cifar100": (3, 32, 32), "fashion_mnist": (1, 28, 28)}


def check_options(name: str, options: Any, where: str = "data.options") -> None:
    """Raise :class:`ConfigError` unless ``options`` are loader options that dataset ``name`` takes."""
    if not isinstance(options, dict):
        raise ConfigError(f"{where} must be a table of loader options, got {options!r}")
    allowed = OPTIONS.get(name, {})
    for key, value in options.items():
        if key not in allowed:
            hint = f"allowed: {', '.join(allowed)}" if allowed else f"{name} takes none"
            extra = " (use data.download)" if key == "download" else ""
            raise ConfigError(f"{where}.{key} is not an option of the {name} loader{extra}; {hint}")
        check, text = allowed[key]
        if not check(value):
            raise ConfigError(f"{where}.{key} must be {text}, got {value!r}")
    if name == "synthetic":
        channels, height, width = image_shape(name, options)
        pixels = options.get("num_samples", 1024) * channels * height * width
        if pixels > MAX_SYNTHETIC_BYTES:
            raise ConfigError(
                f"{where}: num_samples x channels x size^2 is {pixels:.3g} bytes, more than the "
                f"{MAX_SYNTHETIC_BYTES:.3g} a synthetic dataset may hold; lower num_samples or size"
            )


def image_shape(name: str, options: dict[str, Any]) -> tuple[int, int, int]:
    """(channels, height, width) of dataset ``name``'s images with ``options`` (checked)."""
    if name == "synthetic":
        size = options.get("size", 32)
        return options.get("channels", 3), size, size
    return _SHAPES[name]
