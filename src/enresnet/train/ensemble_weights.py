"""Learned weights of an ensemble of different ResNets (paper Sec. 5, Eq. 19-20).

With combined logits y_i = sum_m w_m Z^m_i and the cross-entropy summed over the
training data, Eq. 19-20 give

    dL/dw_m = - sum_i ( Z^m_{i, t_i} - sum_j Z^m_{ij} softmax(y_i)_j ),

the gradient accumulated over an epoch; the weights take one step per epoch
and are then clipped to >= 0 and renormalised to sum 1
(:func:`enresnet.models.normalise_weights`).
"""

from __future__ import annotations

import torch

from ..models import Ensemble


def weight_gradient(member_logits: torch.Tensor, weights: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 19-20 summed over the batch: ``member_logits`` (M, B, K) -> (M,)."""
    z = member_logits.detach().float()
    w = weights.detach().float()
    probs = torch.softmax(torch.tensordot(w, z, dims=1), dim=1)  # (B, K)
    true_logit = z.gather(2, labels.view(1, -1, 1).expand(z.shape[0], -1, 1)).squeeze(2)  # (M, B)
    expected_logit = (z * probs.unsqueeze(0)).sum(2)  # (M, B)
    return -(true_logit - expected_logit).sum(1)


def update_weights(model: Ensemble, summed_gradient: torch.Tensor, count: int, lr: float) -> None:
    """One step of size ``lr`` along the mean gradient, then clip and renormalise."""
    model.set_weights(model.weights - lr * summed_gradient.to(model.weights) / max(count, 1))
