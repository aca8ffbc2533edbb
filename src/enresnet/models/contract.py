"""The contract of an ensemble (:class:`EnsembleModel`): what the trainer and the checkpoint code rely on.

Both ensembles of the paper meet it: the En_n ResNet (Sec. 3.1, n jointly trained noise-injected copies
computed as one network, :class:`~enresnet.models.EnResNet`) and the weighted ensemble of separate networks
(Sec. 4.2 integration, Sec. 5 learned weights: :class:`~enresnet.models.Ensemble`). Their prediction is
:func:`weighted_logits`, ``sum_i w_i Z_i(x)`` (the Monte-Carlo average of Eq. 14 for uniform weights,
the weighted combination of Eq. 19-20 for learned ones), taken before the softmax.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


def weighted_logits(weights: torch.Tensor, member_logits: torch.Tensor) -> torch.Tensor:
    """``sum_i w_i Z_i``: (members,) weights and (members, N, classes) logits -> (N, classes), in the logits'
    dtype."""
    return torch.tensordot(weights.to(member_logits.dtype), member_logits, dims=1)


@runtime_checkable
class EnsembleModel(Protocol):
    """An ensemble of ``len(model)`` members whose output is ``combine(member_logits(x))``."""

    weights: torch.Tensor
    """The members' weights w (members,), w >= 0, sum w = 1; a buffer, saved in checkpoints."""
    learn_weights: bool
    """Whether training updates :attr:`weights` from dL/dw once per epoch (Sec. 5, Eq. 19-20)."""

    def __len__(self) -> int: ...

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's logits: (members, N, classes)."""
        ...

    def combine(self, member_logits: torch.Tensor) -> torch.Tensor:
        """The ensemble's logits (N, classes) from :meth:`member_logits`' output: :func:`weighted_logits`."""
        ...
