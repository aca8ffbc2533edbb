"""The En_n ResNet as one network (grouped convolutions) against the loop over n separate networks."""

import pytest
import torch

import enresnet
from enresnet.checkpoint import load_model, save_model
from enresnet.models import (
    EnResNet,
    Ensemble,
    EnsembleModel,
    FusedResNet,
    NoiseInjection,
    PreActResNet,
    create_model,
    noise_disabled,
    weighted_logits,
)
from enresnet.models.resnet import cifar_resnet


def loop_and_fused(n: int, execution: str = "grouped", **kwargs) -> tuple[Ensemble, EnResNet]:
    """A loop of n separately built ResNet8s and the fused model loaded from its state dict."""
    loop = Ensemble([cifar_resnet(8, num_classes=5, noise_coef=0.1, **kwargs) for _ in range(n)])
    fused = create_model(f"en{n}_resnet8", num_classes=5, **kwargs)
    fused.load_state_dict(loop.state_dict())
    fused.execution = execution
    return loop, fused


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> bool:
    """Equal up to float32 rounding, relative to the tensor's scale."""
    return bool((a - b).abs().max() <= tol * max(b.abs().max().item(), 1e-12))


@pytest.mark.parametrize("execution", ["grouped", "loop"])
@pytest.mark.parametrize("n", [1, 2, 5])
@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("std_mode", ["tensor", "sample"])
def test_logits_gradients_and_statistics_equal_the_loop_without_noise(execution, n, train, std_mode):
    loop, fused = loop_and_fused(n, execution, std_mode=std_mode)
    loop.train(train)
    fused.train(train)
    x = torch.rand(6, 3, 12, 12)
    x_loop, x_fused = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with noise_disabled(loop), noise_disabled(fused):
        members_loop, members_fused = loop.member_logits(x_loop), fused.member_logits(x_fused)
    assert members_fused.shape == (n, 6, 5)
    assert close(members_fused, members_loop)
    weights = torch.randn_like(members_loop)
    (members_loop * weights).sum().backward()
    (members_fused * weights).sum().backward()
    assert close(x_fused.grad, x_loop.grad)
    grads_loop = {k: p.grad for k, p in loop.named_parameters()}
    grads_fused = enresnet.models.member_layout(fused, {k: p.grad for k, p in fused.named_parameters()})
    assert grads_fused.keys() == grads_loop.keys()
    for key in grads_loop:
        assert close(grads_fused[key], grads_loop[key]), key
    # train mode: each member's BatchNorm running statistics updated as by its own network
    state_loop, state_fused = loop.state_dict(), fused.state_dict()
    assert list(state_fused) == list(state_loop)
    for key in state_loop:
        assert close(state_fused[key].double(), state_loop[key].double()), key


def test_forward_is_the_average_of_member_logits():
    loop, fused = loop_and_fused(3)
    x = torch.rand(4, 3, 12, 12)
    with torch.no_grad(), noise_disabled(fused), noise_disabled(loop):
        assert close(fused(x), loop(x))
        assert close(fused(x), fused.member_logits(x).mean(0))


def test_noise_std_is_per_member():
    """Member 1's channels 50x larger: each member's noise must scale with its own std only."""
    torch.manual_seed(0)
    for std_mode in ("tensor", "sample"):
        noise = NoiseInjection(0.1, std_mode, members=2)
        x = torch.randn(64, 8, 6, 6)
        x[:, 4:] *= 50
        added = noise(x) - x
        for member, channels in enumerate((slice(0, 4), slice(4, 8))):
            expected = 0.1 * x[:, channels].std()
            assert 0.95 < (added[:, channels].std() / expected).item() < 1.05, (std_mode, member)


def test_auto_execution_is_the_loop_on_a_cpu():
    loop, fused = loop_and_fused(3, "auto")
    calls = []
    fused._template.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        fused(torch.rand(2, 3, 12, 12))
    assert len(calls) == 3
    fused.execution = "fast"
    with pytest.raises(ValueError, match="execution must be one of"):
        fused(torch.rand(2, 3, 12, 12))


@pytest.mark.parametrize("execution", ["grouped", "loop"])
def test_noise_has_the_loops_distribution_per_member(execution):
    torch.manual_seed(0)
    loop, fused = loop_and_fused(2, execution)
    with torch.no_grad():  # member 1's blocks output 20x larger values: its std must not leak into member 0
        loop.members[1].conv1.weight.mul_(20)
        fused.load_state_dict(loop.state_dict())
    loop.eval()
    fused.eval()
    x = torch.rand(4, 3, 12, 12)
    with torch.no_grad():
        draws_loop = torch.stack([loop.member_logits(x) for _ in range(200)])
        draws_fused = torch.stack([fused.member_logits(x) for _ in range(200)])
        with noise_disabled(loop):
            clean = loop.member_logits(x)
    assert not torch.equal(draws_fused[0], draws_fused[1])  # a fresh draw at every call
    for member in range(2):
        spread_loop = draws_loop[:, member].std(0).mean()
        spread_fused = draws_fused[:, member].std(0).mean()
        assert 0.85 < spread_fused / spread_loop < 1.15, member
        scale = clean[member].abs().mean()
        assert (draws_fused[:, member].mean(0) - draws_loop[:, member].mean(0)).abs().mean() < 0.05 * scale


def test_checkpoints_round_trip_between_loop_and_fused(tmp_path):
    loop, fused = loop_and_fused(3)
    x = torch.rand(2, 3, 12, 12)
    # loop -> fused was done by loop_and_fused; fused -> loop:
    back = fused.as_ensemble()
    for key, value in loop.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    # a checkpoint written from the fused model rebuilds it, and loads into the loop
    save_model(tmp_path / "m", fused, note="test")
    rebuilt = load_model(tmp_path / "m")
    assert isinstance(rebuilt, EnResNet) and len(rebuilt) == 3
    fresh_loop = Ensemble([cifar_resnet(8, num_classes=5, noise_coef=0.1) for _ in range(3)])
    fresh_loop.load_state_dict(rebuilt.state_dict())
    with torch.no_grad(), noise_disabled(rebuilt), noise_disabled(fresh_loop), noise_disabled(fused):
        rebuilt.eval(), fresh_loop.eval(), fused.eval()
        assert close(rebuilt(x), fused(x))
        assert close(fresh_loop(x), fused(x))


def test_loading_a_checkpoint_of_another_member_count_is_refused():
    _, fused = loop_and_fused(2)
    three = create_model("en3_resnet8", num_classes=5)
    with pytest.raises(RuntimeError):
        three.load_state_dict(fused.state_dict())


def test_fused_members_inside_a_learned_weight_ensemble_keep_the_loop_layout():
    model = create_model("en2_resnet8+en1_resnet14", num_classes=5)
    keys = list(model.state_dict())
    assert "members.0.members.1.conv1.weight" in keys and "members.1.members.0.fc.bias" in keys
    twin = create_model("en2_resnet8+en1_resnet14", num_classes=5)
    twin.load_state_dict(model.state_dict())
    x = torch.rand(2, 3, 12, 12)
    with torch.no_grad(), noise_disabled(model), noise_disabled(twin):
        assert torch.equal(model.eval()(x), twin.eval()(x))


def literal_pgd_training_step(model: Ensemble, optimizer, x, y, eps, alpha, steps) -> None:
    """Algorithm 1 written out over a loop of separate networks (BatchNorm in train mode, as the trainer)."""
    model.train()
    x_adv = x + torch.empty_like(x).uniform_(-eps, eps)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    loss = torch.nn.functional.cross_entropy(model(x_adv), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("execution", ["grouped", "loop"])
def test_a_pgd_training_step_of_the_trainer_equals_the_literal_loop(execution):
    from enresnet.train import Trainer

    from helpers import tiny_config

    config = tiny_config(model={"name": "en3_resnet8", "noise_coef": 0.0}, train={"method": "pgd", "device": "cpu"})
    trainer = Trainer(config)
    trainer.model.execution = execution
    loop = trainer.model.as_ensemble()
    cfg = config.train
    optimizer = torch.optim.SGD(loop.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                                weight_decay=cfg.weight_decay)
    attack = config.attack
    for step in range(2):  # the second step uses the momentum buffers
        x = torch.rand(cfg.batch_size, 3, 16, 16)
        y = torch.randint(0, 10, (len(x),))
        torch.manual_seed(step)
        trainer.train_step(x, y)
        torch.manual_seed(step)
        literal_pgd_training_step(loop, optimizer, x, y, attack.eps, attack.alpha, attack.steps)
    fused_state, loop_state = trainer.model.state_dict(), loop.state_dict()
    for key, value in loop_state.items():  # parameters are O(1): 1e-5 absolute
        assert (fused_state[key].double() - value.double()).abs().max() <= 1e-5, key
    assert any(not torch.equal(fused_state[k], v) for k, v in Trainer(config).model.state_dict().items())


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("std_mode", ["tensor", "sample"])
def test_member_std_equals_the_std_over_each_members_channels(channels_last, std_mode):
    from enresnet.models.noise import from_member_view, member_view

    x = torch.randn(6, 12, 5, 5) * torch.tensor([1.0] * 4 + [10.0] * 4 + [0.1] * 4).view(1, 12, 1, 1) + 3
    x = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    got = NoiseInjection(0.1, std_mode, members=3).scale(x)
    groups = x.contiguous().view(6, 3, 4, 5, 5)
    expected = groups.flatten(2).std(dim=2) if std_mode == "sample" else groups.std(dim=(0, 2, 3, 4)).view(1, 3)
    assert got.shape == ((6 if std_mode == "sample" else 1), 1, 3, 1)
    assert close(got.view(expected.shape), expected)
    back = from_member_view(member_view(x, 3), x)
    assert torch.equal(back, x) and back.stride() == x.stride()


def test_both_ensembles_meet_one_contract_and_combine_alike():
    loop, fused = loop_and_fused(3)
    for model in (loop, fused, create_model("en1_resnet8+en1_resnet8")):
        assert isinstance(model, EnsembleModel)
    assert not isinstance(create_model("resnet8"), EnsembleModel)
    assert (loop.learn_weights, fused.learn_weights, create_model("en1_resnet8+en2_resnet8").learn_weights) == (
        False, False, True)
    logits = torch.randn(3, 4, 5)
    assert len(loop) == len(fused) == 3
    assert torch.equal(loop.combine(logits), fused.combine(logits))
    assert torch.equal(fused.combine(logits), weighted_logits(fused.weights, logits))


def test_one_member_is_never_returned_for_the_model():
    with pytest.raises(TypeError, match="takes no 'members'.*EnResNet"):
        PreActResNet(1, (16, 32, 64), members=5)
    with pytest.raises(NotImplementedError):  # the fused body has no forward of its own
        FusedResNet(1, (16, 32, 64), members=5)(torch.rand(1, 3, 32, 32))
    fused = create_model("en5_resnet8", num_classes=5)
    assert fused.member_logits(torch.rand(2, 3, 32, 32)).shape == (5, 2, 5)
