"""Learned ensemble weights (Sec. 5): Eq. 19-20 against finite differences and autograd."""

import torch
import torch.nn.functional as F

from enresnet.models import Ensemble
from enresnet.train import update_weights, weight_gradient


def _loss(weights, member_logits, labels):
    return F.cross_entropy(torch.tensordot(weights, member_logits, dims=1), labels, reduction="sum")


def test_eq19_20_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(3, 50, 7, generator=gen, dtype=torch.float64) * 3
    y = torch.randint(0, 7, (50,), generator=gen)
    w = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    grad = weight_gradient(z, w, y).double()
    h = 1e-6
    for m in range(3):
        e = torch.zeros(3, dtype=torch.float64)
        e[m] = h
        fd = (_loss(w + e, z, y) - _loss(w - e, z, y)) / (2 * h)
        assert abs(grad[m].item() - fd.item()) < 1e-4 * max(1.0, abs(fd.item()))


def test_eq19_20_gradient_matches_autograd():
    z = torch.randn(2, 16, 10)
    y = torch.randint(0, 10, (16,))
    w = torch.tensor([0.7, 0.3], requires_grad=True)
    _loss(w, z, y).backward()
    assert torch.allclose(weight_gradient(z, w, y), w.grad, atol=1e-4)


def test_update_moves_weight_towards_the_better_member_and_renormalises():
    members = [torch.nn.Identity(), torch.nn.Identity()]
    ens = Ensemble(members, learn_weights=True)
    y = torch.arange(4)
    good = F.one_hot(y, 4).float() * 5  # member 0 is right
    bad = F.one_hot((y + 1) % 4, 4).float() * 5  # member 1 is wrong
    grad = weight_gradient(torch.stack([good, bad]), ens.weights, y)
    assert grad[0] < 0 < grad[1]
    update_weights(ens, grad, count=4, lr=0.05)
    assert ens.weights[0] > 0.5 > ens.weights[1]
    assert abs(ens.weights.sum().item() - 1) < 1e-6
    update_weights(ens, grad * 100, count=4, lr=1.0)
    assert ens.weights.tolist() == [1.0, 0.0]  # clipped at 0, renormalised
