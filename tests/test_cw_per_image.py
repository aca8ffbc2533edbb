"""C&W (Eq. 18) optimises each image on its own: the batch it shares changes nothing."""

import torch

import enresnet
from enresnet.attacks import CW


def test_cw_on_8_images_alone_equals_cw_on_them_inside_a_batch_of_64():
    net = enresnet.create_model("resnet8", num_classes=10).eval()  # plain ResNet: deterministic
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 3, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    attack = CW(net, steps=20)
    together = attack(x, y)[:8]
    alone = torch.cat([attack(x[i : i + 1], y[i : i + 1]) for i in range(8)])
    assert (together - x[:8]).abs().amax() > 1e-3  # the attack moved
    assert torch.allclose(alone, together, atol=1e-5, rtol=0)
