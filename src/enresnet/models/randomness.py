"""Whether a model's prediction is random: measured on a probe batch, for any ``nn.Module``.

A noise-injected ResNet is one kind of randomized defense; a random
resize-and-pad of the input, dropout kept on at test time or another library's
noise layer are others. What makes evaluation honest for all of them (EOT
gradients, several prediction draws, the worst case over draws) is whether the
model, in eval mode as it is deployed, gives different outputs for the same
input, not which classes it is built from. :func:`measure_randomness` runs the
model ``draws`` times on a probe batch and compares the logits; any difference
makes it stochastic. Our :class:`~enresnet.models.noise.NoiseInjection` switch
is an optimisation on top (:func:`is_stochastic` skips the probe for a model
with enabled injections), never the definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .noise import has_noise

PROBE_IMAGES = 16
PROBE_DRAWS = 4


@dataclass(frozen=True)
class Randomness:
    """The verdict and how it was reached (for an evaluation's notes)."""

    stochastic: bool
    max_difference: float
    """The largest |logit difference| between the probe's forward passes (0 for a deterministic model)."""
    images: int
    draws: int
    declared: bool | None = None
    """What the caller declared (None: nothing); a declared-deterministic model that varies is stochastic."""

    @property
    def note(self) -> str:
        how = (f"randomness measured: {self.draws} forward passes in eval mode on {self.images} probe images "
               f"{'differ' if self.stochastic else 'agree'}")
        how += f" (largest logit difference {self.max_difference:.3g})" if self.stochastic else " exactly"
        if self.declared is False and self.stochastic:
            how += "; declared deterministic, but it varies, so it is treated as stochastic"
        elif self.declared is True and not self.stochastic:
            how += "; declared stochastic, so treated as stochastic"
        return how


@torch.no_grad()
def measure_randomness(model: nn.Module, probe: torch.Tensor, draws: int = PROBE_DRAWS,
                       declared: bool | None = None) -> Randomness:
    """Run ``model`` ``draws`` times in eval mode on the first :data:`PROBE_IMAGES` of ``probe``.

    Stochastic when any logit differs between passes (bit for bit: the same
    deterministic kernels on the same input give the same output), or when
    ``declared`` True. The caller's RNG state and the model's mode are restored.
    """
    if draws < 2:
        raise ValueError(f"measuring randomness needs at least 2 forward passes, got {draws}")
    images = probe[:PROBE_IMAGES]
    was_training = model.training
    model.eval()
    devices = [images.device] if images.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            outputs = [model(images).float() for _ in range(draws)]
    finally:
        model.train(was_training)
    differences = [(out - outputs[0]).abs().nan_to_num(nan=float("inf")) for out in outputs[1:]]
    difference = max((float(d.max()) for d in differences if d.numel()), default=0.0)
    return Randomness(difference > 0 or declared is True, difference, int(images.shape[0]), draws, declared)


def is_stochastic(model: nn.Module, probe: torch.Tensor) -> bool:
    """True for a model with enabled noise injections (no probe needed), else :func:`measure_randomness`."""
    return has_noise(model) or measure_randomness(model, probe).stochastic
