"""Attacks against a small ResNet trained in the test: each lowers accuracy, IFGSM^20 at least as much as FGSM."""

import pytest
import torch
import torch.nn.functional as F

import enresnet
from enresnet.data import iterate_batches, load_dataset
from enresnet.evaluate import AttackSettings, attacked_accuracy, build_attack
from enresnet.evaluate.autoattack import AutoAttack
from enresnet.models import noise_disabled

SYNTH = {"num_classes": 10, "channels": 3, "size": 8, "noise": 0.3}


@pytest.fixture(scope="module")
def trained():
    """en1_resnet8 (noise a = 0.1) trained naturally for 200 SGD steps (~5-10 s on 2 cores)."""
    torch.manual_seed(0)
    train = load_dataset("synthetic", train=True, num_samples=2048, **SYNTH)
    net = enresnet.create_model("en1_resnet8", num_classes=10)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    net.train()
    for epoch in range(7):
        for x, y in iterate_batches(train, 64, shuffle=True, epoch=epoch, drop_last=True):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def test_set():
    return load_dataset("synthetic", train=False, num_samples=96, **SYNTH)


def accuracies(net, data, names, settings):
    clean = attacked_accuracy(net, data, None, repeats=2).mean
    return clean, {n: attacked_accuracy(net, data, build_attack(n, net, settings), repeats=2).mean for n in names}


@pytest.mark.parametrize("noisy", [False, True], ids=["noise-off", "noisy-eot"])
def test_each_attack_lowers_accuracy_and_ifgsm20_beats_fgsm(trained, test_set, noisy):
    settings = AttackSettings(eot=3 if noisy else 1)
    names = ["fgsm", "ifgsm20", "cw", "cwinf20", "pgd20"]
    if noisy:
        clean, acc = accuracies(trained, test_set, names, settings)
    else:
        with noise_disabled(trained):
            clean, acc = accuracies(trained, test_set, names, settings)
    print(f"noisy={noisy}: clean {clean:.3f}", {k: round(v, 3) for k, v in acc.items()})
    assert clean > 0.9
    for name, value in acc.items():
        # the paper's C&W (50 Adam steps of lr 6e-4) moves pixels by ~0.015: on a model this
        # confident it may flip no image of 96, but it must never raise the accuracy
        assert value <= clean if name == "cw" else value < clean, name
    assert acc["ifgsm20"] <= acc["fgsm"]
    assert acc["ifgsm20"] < clean - 0.05


def test_autoattack_lowers_accuracy_of_the_trained_model(trained, test_set):
    data = test_set.subset(torch.arange(32))
    with noise_disabled(trained):
        clean = attacked_accuracy(trained, data, None).mean
        standard = attacked_accuracy(trained, data, AutoAttack(trained, n_iter=10, n_queries=50)).mean
    rand = attacked_accuracy(trained, data, AutoAttack(trained, n_iter=10, eot_iter=2, check_draws=4)).mean
    ifgsm = attacked_accuracy(trained, data, build_attack("ifgsm20", trained, AttackSettings(eot=2))).mean
    assert standard < clean and rand < clean
    assert rand <= ifgsm + 2 / 32  # APGD is at least about as strong as IFGSM^20


def test_autoattack_rand_recheck_is_at_least_as_strong_as_the_public_api(trained, test_set):
    """AutoAttack's public run_standard_evaluation(version='rand') judges "fooled" from one draw and gives
    up early; our run of the same APGD attacks keeps each image's best candidate over several draws. Judged
    the same way (worst case over 4 fresh draws), ours must leave no more images than the public API."""
    pyautoattack = pytest.importorskip("pyautoattack")
    from enresnet.evaluate.autoattack import _set_apgd_iterations

    data = test_set.subset(torch.arange(32))

    def public(images, labels):
        aa = pyautoattack.AutoAttack(trained, norm="Linf", eps=8 / 255, version="rand", device=images.device)
        for apgd in (aa.apgd, aa.apgd_targeted):
            _set_apgd_iterations(apgd, 10)
        aa.apgd.eot_iter = 2
        adv, _ = aa.run_standard_evaluation(images, labels, batch_size=len(images))
        return adv.to(images.device)

    torch.manual_seed(0)
    theirs = attacked_accuracy(trained, data, public, repeats=4).worst
    torch.manual_seed(0)
    ours = attacked_accuracy(trained, data, AutoAttack(trained, n_iter=10, eot_iter=2, check_draws=4), repeats=4).worst
    assert ours <= theirs + 1 / 32


def test_bf16_attack_gradients_stay_within_the_interval_of_fp32(trained, test_set):
    """evaluate_model's default where bf16 is fast: the attack's forward passes in bf16, predictions in
    fp32. The robust accuracy must stay inside the 95% interval of the fp32 attack's."""
    from dataclasses import replace

    seen = []
    hook = trained.conv1.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    fp32 = AttackSettings(eot=1)
    try:
        with noise_disabled(trained):
            a32 = attacked_accuracy(trained, test_set, build_attack("ifgsm20", trained, fp32))
            seen.clear()
            a16 = attacked_accuracy(trained, test_set, build_attack("ifgsm20", trained, replace(fp32, bf16=True)))
    finally:
        hook.remove()
    assert torch.bfloat16 in seen and torch.float32 in seen  # attack in bf16, predictions in fp32
    low, high = a32.interval()
    assert a16.mean < 0.95 and low <= a16.mean <= high
