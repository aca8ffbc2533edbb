"""How a training step runs on its device: bf16 autocast, channels_last, CUDA-graph capture.

The ``train.amp``, ``train.channels_last`` and ``train.capture`` keys default to
``"auto"``, chosen from measurements (docs/benchmarks.md):

* CUDA: all three on. The fused En_n network, bf16, channels_last and the
  captured step together make the PGD-10 step of En5ResNet20 7x faster than
  the authors' loop on an H100.
* CPU: channels_last on (oneDNN's NHWC convolutions: 1.3x on a ResNet20 PGD
  step); bf16 autocast on where the CPU has native bf16 instructions
  (AVX512-BF16 or AMX: 1.9x), off elsewhere (emulated bf16 is slower); no
  graphs (CUDA only).

Each key set to true or false (``amp``: ``"bf16"`` or ``"none"``) overrides the choice.

Capture needs one process (no DDP: its gradient all-reduce is not recorded)
and no ``train.compile`` (torch.compile has its own graphs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import TrainConfig
from ..device import native_bf16
from ..errors import ConfigError


@dataclass(frozen=True)
class SpeedOptions:
    """The resolved settings: bf16 autocast, NHWC memory layout, CUDA-graph capture, torch.compile."""

    bf16: bool
    channels_last: bool
    capture: bool
    compile: bool


def resolve_speed_options(train: TrainConfig, device: torch.device, distributed: bool) -> SpeedOptions:
    """Turn the config's ``"auto"`` values into choices for ``device`` (see module doc)."""
    cuda = device.type == "cuda"
    bf16 = train.amp == "bf16" or (train.amp == "auto" and native_bf16(device))
    channels_last = True if train.channels_last == "auto" else train.channels_last
    if train.capture == "auto":
        capture = cuda and not distributed and not train.compile
    else:
        capture = train.capture
        if capture and not cuda:
            raise ConfigError(
                f"train.capture = true needs a CUDA device (CUDA graphs), but training runs on {device}; "
                "set train.capture = \"auto\" or false"
            )
        if capture and distributed:
            raise ConfigError("train.capture = true cannot record DDP's all-reduce; set it to \"auto\" or false")
        if capture and train.compile:
            raise ConfigError("train.capture and train.compile exclude each other; set one of them to false")
    return SpeedOptions(bf16=bf16, channels_last=channels_last, capture=capture, compile=train.compile)
