"""Attacks (paper Sec. 3.2): agreement with torchattacks, the l_inf/[0,1] bounds, EOT, model hygiene."""

import inspect
import json
from dataclasses import replace

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import enresnet
from enresnet.attacks import APGD, CW, FGSM, IFGSM, PGD, Attack, CWInf
from enresnet.errors import ConfigError
from enresnet.evaluate import AttackSettings, AutoAttack, build_attack, parse_attacks

SHAPE = (3, 8, 8)


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *SHAPE, generator=g), torch.randint(0, 10, (n,), generator=g)


def model(name="resnet8", **kw):
    return enresnet.create_model(name, num_classes=10, **kw).eval()


def test_fgsm_and_ifgsm_match_torchattacks_on_a_deterministic_model():
    torchattacks = pytest.importorskip("torchattacks")  # installed by scripts/install.sh (--no-deps)
    net = model()
    x, y = batch(8)
    assert torch.allclose(FGSM(net, eps=8 / 255)(x, y), torchattacks.FGSM(net, eps=8 / 255)(x, y), atol=1e-6)
    ours = IFGSM(net, eps=8 / 255, alpha=2 / 255, steps=7)(x, y)
    theirs = torchattacks.BIM(net, eps=8 / 255, alpha=2 / 255, steps=7)(x, y)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert (ours - x).abs().max() > 7.9 / 255  # the attack moved


def test_eot_on_a_deterministic_model_is_one_draw_and_changes_nothing():
    net = model()
    x, y = batch()
    attack = IFGSM(net, steps=3, eot_samples=5)
    assert attack.draws == 1
    assert torch.equal(attack(x, y), IFGSM(net, steps=3)(x, y))


MODEL_KINDS = {
    "plain": lambda: model("resnet8"),
    "noisy_en2": lambda: model("en2_resnet8"),
    "weighted_ensemble": lambda: model("en1_resnet8+resnet8"),
    "integrated": lambda: enresnet.integrate_models([model("resnet8"), model("en1_resnet8")]).eval(),
}
ATTACKS = {
    "fgsm": lambda m, eps: FGSM(m, eps=eps, eot_samples=2),
    "ifgsm": lambda m, eps: IFGSM(m, eps=eps, alpha=eps / 2, steps=3, eot_samples=2),
    "pgd": lambda m, eps: PGD(m, eps=eps, alpha=eps / 2, steps=3, eot_samples=2, eot_batch=1),
    "cw": lambda m, eps: CW(m, eps=eps, steps=3, lr=0.5, eot_samples=2),
    "cwinf": lambda m, eps: CWInf(m, eps=eps, alpha=eps / 2, steps=3, eot_samples=2),
    "autoattack": lambda m, eps: AutoAttack(m, eps=eps, n_iter=3, eot_iter=2, n_queries=10, check_draws=2),
}
_built = {}


def cached_model(kind):
    if kind not in _built:
        _built[kind] = MODEL_KINDS[kind]()
    return _built[kind]


@pytest.mark.parametrize("kind", sorted(MODEL_KINDS))
@pytest.mark.parametrize("attack_name", sorted(ATTACKS))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(eps=st.floats(1e-3, 0.3), seed=st.integers(0, 2**16), extreme=st.booleans())
def test_every_attack_stays_in_the_eps_ball_and_in_0_1(kind, attack_name, eps, seed, extreme):
    net = cached_model(kind)
    x, y = batch(3, seed)
    if extreme:  # saturated pixels: the [0, 1] clip must hold at the borders
        x = (x > 0.5).float()
    adv = ATTACKS[attack_name](net, eps)(x, y)
    assert adv.shape == x.shape
    assert (adv - x).abs().max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


@pytest.mark.parametrize("attack_name", sorted(ATTACKS))
def test_attacks_restore_the_mode_and_never_touch_parameters(attack_name):
    net = model("en1_resnet8").train()
    frozen = net.fc.bias
    frozen.requires_grad_(False)
    flags = [p.requires_grad for p in net.parameters()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = batch(3)
    ATTACKS[attack_name](net, 8 / 255)(x, y)
    assert net.training
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(p.grad is None for p in net.parameters())
    # eval mode during the attack: BatchNorm running statistics are not updated
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_attack_runs_in_eval_mode():
    net = model()
    seen = []
    net.register_forward_hook(lambda mod, inp, out: seen.append(mod.training))
    FGSM(net.train())(*batch())
    assert seen and not any(seen)


def test_eot_averaged_gradient_has_lower_variance_than_one_draw():
    net = model("en1_resnet8", noise_coef=0.5)
    x, y = batch(2)

    def spread(k):
        attack = FGSM(net, eot_samples=k)
        grads = torch.stack([attack.input_grad(x, y, torch.nn.functional.cross_entropy) for _ in range(6)])
        return grads.var(dim=0).mean().item()

    one, eight = spread(1), spread(8)
    assert eight < 0.5 * one  # ~1/8 in expectation


def test_eot_replicas_go_through_the_model_as_one_batch_or_in_chunks():
    net = model("en1_resnet8")
    sizes = []
    net.register_forward_pre_hook(lambda mod, inp: sizes.append(inp[0].shape[0]))
    x, y = batch(3)
    FGSM(net, eot_samples=4)(x, y)
    assert sizes == [12]
    sizes.clear()
    FGSM(net, eot_samples=4, eot_batch=3)(x, y)
    assert sizes == [9, 3]


def test_on_a_cpu_many_eot_draws_are_chunked_to_passes_of_about_160_images():
    net = model("en1_resnet8")
    sizes = []
    net.register_forward_pre_hook(lambda mod, inp: sizes.append(inp[0].shape[0]))
    x, y = torch.rand(32, 3, 8, 8), torch.randint(0, 10, (32,))
    FGSM(net, eot_samples=20, stochastic=True)(x, y)
    assert sizes == [160, 160, 160, 160]  # AutoAttack's 20 draws of 32 images: 4 equal passes, not one of 640
    sizes.clear()
    FGSM(net, eot_samples=20, eot_batch=20, stochastic=True)(x, y)
    assert sizes == [640]  # an explicit eot_batch is kept


def test_eot_gradient_of_k_draws_is_the_mean_of_single_draw_gradients():
    net = model("en1_resnet8")
    x, y = batch(2)
    loss = torch.nn.functional.cross_entropy
    torch.manual_seed(1)
    k3 = FGSM(net, eot_samples=3, eot_batch=1).input_grad(x, y, loss)
    torch.manual_seed(1)
    singles = [FGSM(net).input_grad(x, y, loss) for _ in range(3)]
    assert torch.allclose(k3, torch.stack(singles).mean(0), atol=1e-6)


class Fixed(nn.Module):
    """Logits that ignore the image, plus a tiny dependence so gradients exist."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.tensor(logits)

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1) + 1e-3 * x.flatten(1)[:, :1]


def test_cw_targets_the_strongest_wrong_class():
    net = Fixed([0.0, 5.0, 3.0, 4.0])
    x = torch.rand(2, *SHAPE)
    assert CW(net).target_labels(x, torch.tensor([1, 0])).tolist() == [3, 1]


def test_cw_with_c_zero_only_shrinks_the_distance():
    """Eq. (18) with c = 0 is min ||x' - x||_inf: starting at x' = x, nothing moves."""
    net = model()
    x, y = batch()
    assert torch.allclose(CW(net, c=0.0)(x, y), x, atol=1e-5)


def test_pgd_is_ifgsm_from_a_random_start_with_algorithm_1_defaults():
    net = model()
    pgd = PGD(net)
    assert (pgd.steps, pgd.random_start, pgd.eps, pgd.alpha) == (10, True, 8 / 255, 2 / 255)
    x, y = batch()
    assert not torch.equal(PGD(net, steps=1)(x, y), IFGSM(net, steps=1)(x, y))


class Recorder(nn.Module):
    """A linear classifier that keeps every input it sees."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(torch.Size(SHAPE).numel(), 10)
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.linear(x.flatten(1))


@pytest.mark.parametrize("clip_start", [False, True])
def test_pgd_random_start_is_unclipped_as_in_algorithm_1_unless_clip_start(clip_start):
    x = torch.cat([torch.zeros(2, *SHAPE), torch.ones(2, *SHAPE)])  # saturated pixels
    y = torch.zeros(4, dtype=torch.long)
    net = Recorder()
    torch.manual_seed(1)
    adv = PGD(net, steps=1, clip_start=clip_start)(x, y)
    torch.manual_seed(1)
    noise = torch.empty_like(x).uniform_(-8 / 255, 8 / 255)
    start = net.seen[0]  # the first gradient is taken at the random start
    assert torch.allclose(start, (x + noise).clamp(0, 1) if clip_start else x + noise)
    assert (start.min() < 0 and start.max() > 1) != clip_start
    assert adv.min() >= 0 and adv.max() <= 1 and (adv - x).abs().max() <= 8 / 255 + 1e-6


def test_clip_start_defaults_to_the_paper():
    assert not PGD(model()).clip_start and not IFGSM(model()).clip_start


def test_attack_rejects_images_outside_0_1():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        FGSM(model())(torch.full((1, *SHAPE), 2.0), torch.tensor([0]))


def test_attack_names_parse_and_unknown_ones_list_the_valid_forms():
    assert parse_attacks("FGSM, ifgsm, cw, pgd, cwinf10, APGD-CE, apgd-dlr50, autoattack") == [
        "fgsm", "ifgsm20", "cw", "pgd20", "cwinf10", "apgd-ce100", "apgd-dlr50", "autoattack"]
    with pytest.raises(ConfigError, match=r"steps must be in \[1, 10000\]"):
        parse_attacks("ifgsm100000000000")
    for bad in (None, 5, ["fgsm", 3]):
        with pytest.raises(ConfigError, match="valid"):
            parse_attacks(bad)
    with pytest.raises(ConfigError, match="valid attacks: fgsm, ifgsm.*autoattack"):
        parse_attacks("fgsm,deepfool")
    with pytest.raises(ConfigError):
        parse_attacks("fgsm5")
    attack = build_attack("ifgsm20", model(), AttackSettings())
    assert (type(attack), attack.steps, attack.random_start) == (IFGSM, 20, False)
    assert isinstance(build_attack("cwinf5", model(), AttackSettings()), CWInf)


@pytest.mark.parametrize("cls", [FGSM, IFGSM, PGD, CW, CWInf, APGD, AutoAttack])
def test_every_attack_takes_model_mode_and_bf16_at_construction_and_checks_them(cls):
    net = model()
    attack = cls(net, model_mode="train", bf16=True)
    assert (attack.model_mode, attack.bf16) == ("train", True)
    assert (cls(net).model_mode, cls(net).bf16) == ("eval", False)
    with pytest.raises(ValueError, match=r"model_mode must be one of \('eval', 'train'\), got 'test'"):
        cls(net, model_mode="test")
    with pytest.raises(ValueError, match="bf16 must be True or False, got 1"):
        cls(net, bf16=1)


def test_an_attack_in_train_mode_runs_the_model_in_train_mode_and_restores_eval():
    net = model()
    seen = []
    net.register_forward_hook(lambda mod, inp, out: seen.append(mod.training))
    IFGSM(net, steps=2, model_mode="train")(*batch())
    assert seen and all(seen) and not net.training


def test_the_factory_passes_every_setting_to_the_attack_at_construction():
    for name in ("fgsm", "ifgsm3", "pgd3", "cw", "cwinf3", "apgd-ce3", "autoattack"):
        attack = build_attack(name, model(), AttackSettings(bf16=True, model_mode="train"))
        assert (attack.bf16, attack.model_mode) == (True, "train"), name
        default = build_attack(name, model(), AttackSettings())
        assert (default.bf16, default.model_mode) == (False, "eval"), name
    assert build_attack("pgd3", model(), AttackSettings(clip_start=True)).clip_start
    assert not build_attack("pgd3", model(), AttackSettings()).clip_start


def test_pgd_from_the_factory_is_the_pgd_of_adversarial_training():
    """``pgdN`` with the training's settings gives Algorithm 1's batch (the PGD class) bit for bit."""
    net, (x, y) = model(), batch()
    for clip_start, mode in ((False, "train"), (True, "eval")):
        settings = AttackSettings(eps=8 / 255, alpha=2 / 255, model_mode=mode, clip_start=clip_start)
        torch.manual_seed(0)
        ours = build_attack("pgd10", net, settings).perturb(x, y)
        torch.manual_seed(0)
        assert torch.equal(ours, PGD(net, clip_start=clip_start, model_mode=mode).perturb(x, y))


def attack_classes():
    """Every Attack subclass the package defines (AutoAttack lives in enresnet.evaluate)."""
    found, todo = [], [Attack]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [cls for cls in found if cls is not Attack and cls.__module__.startswith("enresnet.")]


@pytest.mark.parametrize("cls", attack_classes(), ids=lambda cls: cls.__name__)
def test_the_fingerprint_is_every_constructor_argument(cls):
    net = model()
    params = set(inspect.signature(cls.__init__).parameters) - {"self", *cls.not_fingerprinted}
    config = cls(net, eps=0.1).config()
    assert config.pop("attack") == cls.__name__
    assert set(config) == params and config["eps"] == 0.1
    assert json.loads(json.dumps(config)) == config
    for option, value in (("model_mode", "train"), ("bf16", True), ("stochastic", True), ("eot_batch", 2)):
        if option in params:
            assert cls(net, eps=0.1, **{option: value}).config()[option] == value


def test_evaluations_that_differ_in_any_attack_option_have_different_fingerprints():
    net = model()
    base = AttackSettings()
    variants = [base, replace(base, bf16=True), replace(base, eot=3), replace(base, alpha=1 / 255),
                replace(base, eot_batch=1)]
    configs = [build_attack("ifgsm3", net, s).config() for s in variants]
    configs += [build_attack("ifgsm3", net, base, stochastic=True).config(), build_attack("pgd3", net, base).config()]
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == len(configs)
    assert "progress" not in build_attack("autoattack", net, base, progress=True).config()
