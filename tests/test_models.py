"""Models: parameter counts (paper Sec. 4), noise semantics (Sec. 3.1), ensembles (Sec. 3, 5)."""

import pytest
import torch

import enresnet
from enresnet.model_names import architecture
from enresnet.models import (
    Ensemble,
    IntegrationSpec,
    NetworkSpec,
    NoiseInjection,
    PreActBlock,
    UnknownModelError,
    noise_disabled,
    set_noise,
    spec_from_dict,
)


@pytest.mark.parametrize(
    "name,paper_millions",
    [("resnet20", 0.27), ("resnet44", 0.66), ("wrn14_2", 0.69)],
)
def test_parameter_counts_match_paper(name, paper_millions):
    count = sum(p.numel() for p in enresnet.create_model(name).parameters())
    assert abs(count / 1e6 - paper_millions) / paper_millions < 0.03


def test_wrn34_10_size_and_ensemble_sizes():
    wrn = sum(p.numel() for p in enresnet.create_model("wrn34_10").parameters())
    assert 45e6 < wrn < 47e6  # Zagoruyko's WRN-34-10 has ~46.2M
    one = sum(p.numel() for p in enresnet.create_model("resnet20").parameters())
    five = sum(p.numel() for p in enresnet.create_model("en5_resnet20").parameters())
    assert five == 5 * one


@pytest.mark.parametrize("name", ["resnet20", "en2_resnet32", "wrn16_1", "en1_resnet20+en1_resnet32"])
@pytest.mark.parametrize("in_channels,size,classes", [(3, 32, 10), (1, 28, 7)])
def test_output_shape(name, in_channels, size, classes):
    model = enresnet.create_model(name, num_classes=classes, in_channels=in_channels).eval()
    assert model(torch.rand(2, in_channels, size, size)).shape == (2, classes)


def test_noise_is_on_in_eval_mode_and_switchable():
    model = enresnet.create_model("en1_resnet20").eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x))
        with noise_disabled(model):
            assert torch.equal(model(x), model(x))
        assert not torch.allclose(model(x), model(x))  # restored
        set_noise(model, False)
        assert torch.equal(model(x), model(x))


def test_zero_noise_equals_plain_resnet_with_same_weights():
    noisy = enresnet.create_model("en1_resnet20", noise_coef=0.0).eval()
    plain = enresnet.create_model("resnet20").eval()
    plain.load_state_dict(noisy.as_ensemble().members[0].state_dict())
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(noisy(x), plain(x))


def test_plain_resnet_name_has_no_noise_whatever_the_coefficient():
    model = enresnet.create_model("resnet20", noise_coef=0.5).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("std_mode", ["tensor", "sample"])
@pytest.mark.parametrize("a", [0.1, 0.3])
def test_injected_noise_has_the_stated_scale(std_mode, a):
    block = PreActBlock(16, 16, 1, noise_coef=a, std_mode=std_mode).eval()
    x = torch.randn(64, 16, 8, 8)
    with torch.no_grad():
        with noise_disabled(block):
            clean = block(x)
        noisy = block(x)
    diff = noisy - clean
    if std_mode == "tensor":
        ratio = diff.std() / clean.std()
        assert abs(ratio.item() - a) / a < 0.03
    else:
        ratio = diff.flatten(1).std(1) / clean.flatten(1).std(1)
        assert torch.allclose(ratio, torch.full_like(ratio, a), rtol=0.1)


def test_tensor_std_couples_the_batch_and_sample_std_does_not():
    x = torch.randn(8, 4, 5, 5)
    x2 = torch.cat([x[:1], 10 * x[1:]])
    for mode, coupled in (("tensor", True), ("sample", False)):
        noise = NoiseInjection(0.1, mode)
        torch.manual_seed(1)
        first = noise(x)[0] - x[0]
        torch.manual_seed(1)
        second = noise(x2)[0] - x2[0]
        assert torch.allclose(first, second) is not coupled


def test_gradient_flows_through_the_std():
    noise = NoiseInjection(0.5)
    x = torch.randn(4, 3, requires_grad=True)
    torch.manual_seed(0)
    noise(x).sum().backward()
    torch.manual_seed(0)
    eps = torch.randn(4, 3)
    # d/dx [x + a*std(x)*eps] summed = 1 + a * eps.sum() * dstd/dx
    xd = x.detach()
    dstd = (xd - xd.mean()) / ((xd.numel() - 1) * xd.std())
    assert torch.allclose(x.grad, 1 + 0.5 * eps.sum() * dstd, atol=1e-5)


def test_en_n_output_is_mean_of_member_logits_without_noise():
    model = enresnet.create_model("en3_resnet20").eval()
    x = torch.rand(5, 3, 32, 32)
    with torch.no_grad(), noise_disabled(model):
        expected = torch.stack([m(x) for m in model.as_ensemble().members]).mean(0)
        assert torch.allclose(model(x), expected, atol=1e-6)


def test_weighted_ensemble_with_weights_one_zero_equals_first_member():
    model = enresnet.create_model("en1_resnet20+en1_resnet32").eval()
    assert isinstance(model, Ensemble) and model.learn_weights
    model.set_weights(torch.tensor([1.0, 0.0]))
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad(), noise_disabled(model):
        assert torch.allclose(model(x), model.members[0](x), atol=1e-6)


def test_set_weights_clips_and_renormalises():
    model = enresnet.create_model("en1_resnet20+en1_resnet20+en1_resnet20")
    model.set_weights(torch.tensor([0.6, -0.2, 0.2]))
    assert torch.allclose(model.weights, torch.tensor([0.75, 0.0, 0.25]))
    with pytest.raises(ValueError, match="positive finite sum"):
        model.set_weights(torch.tensor([-1.0, -1.0, 0.0]))


def test_integration_averages_separate_models():
    a = enresnet.create_model("en1_resnet20").eval()
    b = enresnet.create_model("en2_resnet20").eval()
    merged = enresnet.integrate_models([a, b]).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad(), noise_disabled(merged):
        assert torch.allclose(merged(x), (a(x) + b(x)) / 2, atol=1e-6)
    rebuilt = enresnet.build_model(merged.spec)
    assert [type(m) for m in rebuilt.members] == [type(m) for m in merged.members]


@pytest.mark.parametrize("bad", ["resnet21", "foo", "en0_resnet20", "wrn13_2", "resnet20+", "en2_resnet"])
def test_unknown_name_lists_valid_forms(bad):
    with pytest.raises(UnknownModelError, match="valid forms"):
        enresnet.create_model(bad)


def test_list_models_all_build():
    names = enresnet.list_models()
    assert {"resnet20", "en1_resnet20", "en5_resnet20", "en2_resnet110", "wrn34_10", "en1_wrn34_10", "wrn14_2"} <= set(
        names
    )
    for name in names:
        if "wrn34" not in name and "110" not in name:
            spec = enresnet.create_model(name).spec
            assert spec.name == name


def test_input_normalisation_inside_the_model():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.2, 0.2)
    model = enresnet.create_model("resnet20", input_mean=mean, input_std=std).eval()
    plain = enresnet.create_model("resnet20").eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("input_")})
    x = torch.rand(2, 3, 32, 32)
    normed = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(model(x), plain(normed), atol=1e-5)


def test_architecture_checks_a_name_without_building_and_counts_as_built():
    arch = architecture("en2_resnet20+wrn16_1")
    assert [(n.blocks, n.widths, n.members) for n in arch.networks] == [(3, (16, 32, 64), 2), (2, (16, 32, 64), None)]
    model = enresnet.create_model(arch.name, num_classes=7, in_channels=1)
    assert arch.parameters(7, 1) == sum(p.numel() for p in model.parameters())
    with pytest.raises(UnknownModelError) as checked:
        architecture("wrn13_2")
    with pytest.raises(UnknownModelError) as built:
        enresnet.create_model("wrn13_2")
    assert str(checked.value) == str(built.value)


@pytest.mark.parametrize("kwargs", [{}, {"dropout": 0.0, "input_mean": [0.5] * 3, "input_std": [0.25] * 3}])
def test_spec_is_typed_and_its_dict_is_the_checkpoint_format(kwargs):
    model = enresnet.create_model("en2_resnet8", num_classes=5, **kwargs)
    spec = model.spec
    assert isinstance(spec, NetworkSpec) and spec.name == "en2_resnet8"
    assert spec.to_dict() == dict(name="en2_resnet8", noise_coef=0.1, num_classes=5, in_channels=3,
                                  std_mode="tensor", **kwargs)
    assert list(spec.to_dict()) == ["name", "noise_coef", "num_classes", "in_channels", "std_mode", *kwargs]
    assert spec_from_dict(spec.to_dict()) == spec
    merged = enresnet.integrate_models([model, enresnet.create_model("resnet8", num_classes=5)])
    assert isinstance(merged.spec, IntegrationSpec)
    assert merged.spec.to_dict() == {"integrate": [spec.to_dict(), enresnet.create_model("resnet8", num_classes=5)
                                                   .spec.to_dict()], "weights": [0.5, 0.5]}
    assert spec_from_dict(merged.spec.to_dict()) == merged.spec
    assert merged.spec.label == "integrate(en2_resnet8 + resnet8)" and merged.spec.network == spec
