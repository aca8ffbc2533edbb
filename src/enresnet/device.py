"""Choosing the torch device from a user's setting ("auto", "cpu", "cuda", "cuda:N"), and what it is fast at."""

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


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 arithmetic is fast on ``device``: every CUDA device here (tensor cores), a CPU
    only with bf16 matrix instructions (AVX512-BF16 or AMX, as oneDNN uses them); elsewhere bf16 is
    emulated and slower than fp32."""
    if device.type == "cuda":
        return True
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
