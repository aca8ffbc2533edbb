"""Choosing the torch device from a user's setting ("auto", "cpu", "cuda", "cuda:N")."""

from __future__ import annotations

import torch

from .errors import ConfigError


def resolve_device(name: str, setting: str = "device") -> torch.device:
    """``auto`` is CUDA when available, else CPU; asking for CUDA without one is an error naming ``setting``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{setting} is {name!r} but no CUDA device is available; use 'auto' or 'cpu'")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{setting} must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}") from None
