"""Sanity checks (Carlini et al. 2019; AutoAttack; paper Sec. 4.4): silent on honest models,
flagging on gradient-masked ones."""

import pytest
import torch
from torch import nn

from enresnet.data import load_dataset
from enresnet.evaluate import AttackSettings, SanitySettings, SanitySuite, natural_model_check
from enresnet.evaluate.accuracy import AccuracyStats
from enresnet.evaluate.sanity import tolerance

from helpers import trained_linear

DATA = dict(num_classes=10, channels=3, size=8, noise=0.3)


class Quantise(nn.Module):
    """round(x * 8) / 8: a non-differentiable input quantisation whose gradient is zero."""

    def forward(self, x):
        return torch.round(x * 8) / 8


@pytest.fixture(scope="module")
def test_data():
    return load_dataset("synthetic", train=False, num_samples=48, **DATA)


@pytest.fixture(scope="module")
def large_test_data():
    """Enough images for a noisy model's checks to have power (sanity module doc: ~200)."""
    return load_dataset("synthetic", train=False, num_samples=240, **DATA)


class ScaledLogits(nn.Module):
    """logits x 1e4: the softmax saturates, the cross-entropy's gradient underflows to zero."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x) * 1e4


@pytest.fixture(scope="module")
def honest():
    return trained_linear()


@pytest.fixture(scope="module")
def honest_noisy():
    return trained_linear(0.2)


FAST = SanitySettings(steps=5, eot_samples=(1, 4, 8), repeats=2)
# The synthetic task is robust at CIFAR's 8/255; at 16/255 IFGSM leaves an honest model ~60% accuracy.
BUDGET = AttackSettings(eps=16 / 255, alpha=4 / 255)
NOISY_BUDGET = AttackSettings(eps=16 / 255, alpha=4 / 255, eot=4)


def flags(checks):
    return {c.name: c.flag for c in checks}


def test_honest_deterministic_model_raises_no_flag(honest, test_data):
    checks = SanitySuite(honest, test_data, BUDGET, FAST).run()
    assert flags(checks) == {"eps-sweep": "ok", "iterations": "ok", "transfer": "n/a", "eot": "n/a",
                             "random-noise": "ok"}
    sweep = checks[0].numbers["accuracy_%"]
    assert sweep[-1] <= 5 < sweep[0] < 100


def test_honest_noisy_model_raises_no_flag(honest_noisy, large_test_data):
    checks = SanitySuite(honest_noisy, large_test_data, NOISY_BUDGET, FAST).run()
    assert set(flags(checks).values()) == {"ok"}  # transfer (noise-off surrogate) and EOT apply too


def test_checks_on_too_few_images_say_so_instead_of_ok(honest_noisy, honest, test_data):
    """48 images: a noisy model's comparisons allow ~30 points of slack; 10 images: even a
    deterministic one's allow 20 points and the eps sweep cannot resolve 5%."""
    noisy = SanitySuite(honest_noisy, test_data, NOISY_BUDGET, FAST).run()
    assert set(flags(noisy).values()) == {"too few images"}
    assert all(not c.conclusive and c.passed for c in noisy)
    few = SanitySuite(honest, test_data.subset(torch.arange(10)), BUDGET, FAST).run()
    assert flags(few)["eps-sweep"] == "too few images" and flags(few)["iterations"] == "too few images"


def test_gradient_masked_model_is_flagged(honest, test_data):
    masked = nn.Sequential(Quantise(), honest)
    checks = SanitySuite(masked, test_data, BUDGET, FAST, surrogate=honest).run()
    found = flags(checks)
    assert found["eps-sweep"] == "FLAG"  # zero gradient: accuracy never falls
    assert found["transfer"] == "FLAG"  # the unmasked surrogate's images fool it better
    assert "accuracy at eps=0.5" in checks[0].explanation


def test_scaled_logits_are_flagged(honest, test_data):
    masked = ScaledLogits(honest)
    found = flags(SanitySuite(masked, test_data, BUDGET, FAST).run())
    assert found["eps-sweep"] == "FLAG"


def test_gradient_masked_noisy_model_is_flagged(honest_noisy, test_data):
    masked = nn.Sequential(Quantise(), honest_noisy)
    assert flags(SanitySuite(masked, test_data, NOISY_BUDGET, FAST).run())["eps-sweep"] == "FLAG"


def test_papers_natural_model_check(honest, large_test_data):
    """Sec. 4.4: IFGSM^20 drives a naturally trained (honest) model to ~0; a masked one stays accurate.

    The synthetic task needs a larger eps than CIFAR's 8/255 for that."""
    budget = AttackSettings(eps=0.25, alpha=0.25 / 4)
    good = natural_model_check(honest, large_test_data, budget)  # 2% needs >= 50 images to be seen
    bad = natural_model_check(nn.Sequential(Quantise(), honest), large_test_data, budget)
    assert (good.flag, bad.flag) == ("ok", "FLAG")
    assert good.numbers["ifgsm20_%"] <= 2 < bad.numbers["ifgsm20_%"]


def test_tolerance_is_two_images_or_a_few_standard_errors_for_noisy_models():
    a = AccuracyStats(n=100, repeats=5, mean=0.5, std=0.02, worst=0.4)
    b = AccuracyStats(n=100, repeats=5, mean=0.4, std=0.02, worst=0.3)
    assert tolerance(a, b, noisy=False, z=3) == pytest.approx(0.02)
    assert tolerance(a, b, noisy=True, z=3) == pytest.approx(3 * ((0.25 + 0.24) / 100) ** 0.5)


def test_each_check_is_the_same_whatever_ran_before_it(honest_noisy, test_data):
    """The checks are independent: run in reverse, one at a time on fresh suites, or twice, each gives the
    same result (and the same power) as in :meth:`SanitySuite.run`."""
    in_order = [c.as_dict() for c in SanitySuite(honest_noisy, test_data, NOISY_BUDGET, FAST).run()]
    suite = SanitySuite(honest_noisy, test_data, NOISY_BUDGET, FAST)
    checks = (suite.eps_sweep, suite.iterations, suite.transfer, suite.eot, suite.random_noise)
    reversed_ = [check().as_dict() for check in reversed(checks)][::-1]
    again = [check().as_dict() for check in checks]
    assert reversed_ == in_order == again
    alone = SanitySuite(honest_noisy, test_data, NOISY_BUDGET, FAST).random_noise().as_dict()
    assert alone == in_order[-1]


def test_a_judgement_has_power_only_if_every_comparison_made_had_it(honest_noisy, honest, test_data):
    suite = SanitySuite(honest, test_data, BUDGET, FAST)
    high, low = AccuracyStats(100, 1, 0.9, 0.0, 0.9), AccuracyStats(100, 1, 0.1, 0.0, 0.1)
    assert suite.judge([(low, high), (low, high)]) == (True, True)
    assert suite.judge([(low, high)], resolves=False) == (True, False)
    assert suite.judge([(high, low), (low, high)]) == (False, True)
    wide = SanitySuite(honest_noisy, test_data, NOISY_BUDGET, FAST)  # noisy, 10 images: ~60 points of slack
    small = AccuracyStats(10, 1, 0.5, 0.0, 0.5)
    assert wide.judge([(small, small)]) == (True, False)
