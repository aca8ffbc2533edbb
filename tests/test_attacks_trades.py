"""TradesKL: TRADES' inner maximisation (Zhang et al. 2019, Algorithm 1) as an Attack."""

import copy

import pytest
import torch
import torch.nn.functional as F

import enresnet
from enresnet.attacks import TradesKL, model_mode


def reference(model, x, eps, alpha, steps, bn_mode):
    """The training loop's TRADES attack before it became an Attack (enresnet.train.objectives.trades_examples)."""
    with model_mode(model, bn_mode):
        with torch.no_grad():
            target = torch.softmax(model(x), dim=1)
        x_adv = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), target, reduction="sum")
            (grad,) = torch.autograd.grad(kl, x_adv)
            x_adv = x_adv.detach() + alpha * grad.sign()
            x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()


@pytest.mark.parametrize("bn_mode", ["train", "eval"])
@pytest.mark.parametrize("name", ["resnet8", "en1_resnet8"])
def test_trades_kl_is_bit_identical_to_the_training_loop_it_replaces(name, bn_mode):
    torch.manual_seed(0)
    net = enresnet.create_model(name, num_classes=10)
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(6, 3, 8, 8, generator=g), torch.randint(0, 10, (6,), generator=g)
    theirs_net, ours_net = net, copy.deepcopy(net)
    torch.manual_seed(2)
    theirs = reference(theirs_net, x, 8 / 255, 2 / 255, 5, bn_mode)
    torch.manual_seed(2)
    ours = TradesKL(ours_net, eps=8 / 255, alpha=2 / 255, steps=5, model_mode=bn_mode).perturb(x, y)
    assert torch.equal(ours, theirs)
    assert (ours - x).abs().max() > 7.9 / 255  # the attack moved
    # the same BatchNorm statistics afterwards: the same forward passes in the same mode
    assert all(torch.equal(a, b) for a, b in zip(theirs_net.state_dict().values(), ours_net.state_dict().values()))


def test_trades_kl_stays_in_the_ball_and_checks_its_arguments():
    net = enresnet.create_model("resnet8", num_classes=10).eval()
    x = (torch.rand(4, 3, 8, 8) > 0.5).float()
    adv = TradesKL(net, eps=0.05, alpha=0.03, steps=3)(x, torch.zeros(4, dtype=torch.long))
    assert (adv - x).abs().max() <= 0.05 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    for bad in (dict(steps=0), dict(alpha=0.0)):
        with pytest.raises(ValueError, match="steps >= 1 and alpha > 0"):
            TradesKL(net, **bad)
