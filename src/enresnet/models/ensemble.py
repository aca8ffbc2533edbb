"""Ensembles of (noise-injected) ResNets: a weighted average of member logits.

One class serves two ensembles of the paper:

* Ensemble of different ResNets (Sec. 5): weights w >= 0, sum w = 1, learned from
  dL/dw (Eq. 19-20) once per epoch; held by the model as a buffer, not trained by SGD.
* Integration of separately trained models (Sec. 4.2, Table 7): uniform average of
  models trained apart, built from their checkpoints.

The output is ``sum_i w_i Z_i(x)``, the combined logits before the softmax.

The third, the En_n ResNet (Sec. 3.1, Fig. 2: n jointly trained noise-injected
copies of one ResNet, uniform weights 1/n), is not built from this class: its
identical members run as one network (:class:`~enresnet.models.EnResNet`), whose checkpoints have the layout
of an ``Ensemble`` of its members.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .contract import weighted_logits


def normalise_weights(weights: torch.Tensor) -> torch.Tensor:
    """Clip to >= 0 and renormalise to sum 1 (Sec. 5, after each update)."""
    clipped = weights.detach().clamp_min(0.0)
    total = clipped.sum()
    if not torch.isfinite(total) or total <= 0:
        raise ValueError(f"ensemble weights must have a positive finite sum after clipping, got {weights.tolist()}")
    return clipped / total


class Ensemble(nn.Module):
    """Weighted average of member logits, ``sum_i w_i * member_i(x)``: an
    :class:`~enresnet.models.EnsembleModel`."""

    def __init__(
        self,
        members: Sequence[nn.Module],
        weights: Sequence[float] | torch.Tensor | None = None,
        learn_weights: bool = False,
    ) -> None:
        super().__init__()
        if len(members) == 0:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        if weights is None:
            w = torch.full((len(members),), 1.0 / len(members))
        else:
            w = torch.as_tensor(weights, dtype=torch.float32).flatten()
            if w.numel() != len(members):
                raise ValueError(f"got {w.numel()} weights for {len(members)} members")
            if (w < 0).any() or abs(float(w.sum()) - 1.0) > 1e-5:
                raise ValueError(f"ensemble weights must be >= 0 and sum to 1, got {w.tolist()}")
        self.register_buffer("weights", w.clone())
        self.learn_weights = learn_weights

    def __len__(self) -> int:
        return len(self.members)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every member, stacked: shape (members, batch, classes)."""
        return torch.stack([member(x) for member in self.members])

    def combine(self, member_logits: torch.Tensor) -> torch.Tensor:
        """Weighted sum over the member axis of :meth:`member_logits` output."""
        return weighted_logits(self.weights, member_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(self.member_logits(x))

    def set_weights(self, weights: torch.Tensor) -> None:
        """Replace the weights by their clipped, renormalised version."""
        self.weights.copy_(normalise_weights(torch.as_tensor(weights, dtype=self.weights.dtype)))

    def extra_repr(self) -> str:
        weights = [round(v, 4) for v in self.weights.tolist()]
        return f"weights={weights}, learn_weights={self.learn_weights}"
