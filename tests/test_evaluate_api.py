"""``enresnet.evaluate_model`` on plain tensors: the same numbers as the CLI, a headline that cannot overstate."""

import json

import pytest
import torch

import enresnet
from enresnet.checkpoint import load_model, save_model
from enresnet.cli import main
from enresnet.data import load_dataset, to_float
from enresnet.errors import ConfigError
from enresnet.evaluate import evaluate_model

SYNTH = {"num_samples": 16, "num_classes": 10, "channels": 3, "size": 8, "noise": 0.3}
SETTINGS = dict(eot=2, repeats=3, batch_size=8, seed=3)


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", train=False, **SYNTH)


def test_api_on_float_tensors_equals_the_cli_table(tmp_path, data, capsys):
    torch.manual_seed(0)
    path = save_model(tmp_path / "ckpt", enresnet.create_model("en1_resnet8"),
                      dataset={"name": "synthetic", "options": SYNTH})
    code = main(["evaluate", str(path), "--attacks", "fgsm,ifgsm3", "--eot", "2", "--repeats", "3",
                 "--batch-size", "8", "--seed", "3", "--sanity-limit", "0", "--out", str(tmp_path / "eval"),
                 "--quiet"])
    capsys.readouterr()
    assert code == 0
    (row,) = json.loads((tmp_path / "eval" / "whitebox.json").read_text())["rows"]
    result = evaluate_model(load_model(path), to_float(data.images), data.labels, ["fgsm", "ifgsm3"],
                            sanity_size=0, dataset="synthetic", **SETTINGS)
    api = result.as_dict()
    assert api["accuracy"] == row["accuracy"]
    assert api["robust_worst_case"] == row["robust_worst_case"]
    assert result.markdown().splitlines()[2] in (tmp_path / "eval" / "whitebox.md").read_text()


def test_headline_is_the_per_image_worst_case_and_below_every_column(data):
    torch.manual_seed(1)
    model = enresnet.create_model("en1_resnet8", noise_coef=0.3).eval()
    images = to_float(data.images)
    result = evaluate_model(model, images, data.labels, "fgsm,ifgsm3,pgd3", sanity_size=0, dataset="synthetic",
                            **SETTINGS)
    head = result.robust_accuracy
    for name, stats in result.results.items():
        assert head.mean <= stats.worst <= stats.mean, name
    every = torch.stack([s.per_image == s.repeats for s in result.results.values()]).all(dim=0)
    assert head.mean == pytest.approx(float(every.float().mean()))
    low, high = head.interval()
    assert 0 <= low <= head.mean <= high <= 1 and high - low > 0.1  # 16 images: a wide interval
    text = result.markdown()
    assert "A_rob worst case [95% CI]" in text and "every prediction draw" in text


@pytest.mark.parametrize("kwargs,match", [
    ({"eps": float("nan")}, "eps must be in"),
    ({"eps": 2.0}, "eps must be in"),
    ({"eot_batch": 0}, "eot_batch must be"),
    ({"repeats": 0}, "repeats must be"),
    ({"seed": 2**70}, "seed must be"),
])
def test_bad_settings_name_the_parameter(data, kwargs, match):
    model = enresnet.create_model("resnet8")
    with pytest.raises(ConfigError, match=match):
        evaluate_model(model, to_float(data.images), data.labels, "fgsm", sanity_size=0, dataset="synthetic",
                       **kwargs)


def test_bad_inputs_are_refused(data):
    model = enresnet.create_model("resnet8")
    with pytest.raises(ConfigError, match=r"pixels in \[0, 1\]"):
        evaluate_model(model, to_float(data.images) * 255, data.labels, "fgsm", dataset="synthetic")
    with pytest.raises(ConfigError, match="labels must be"):
        evaluate_model(model, to_float(data.images), data.labels[:3], "fgsm", dataset="synthetic")
    with pytest.raises(ConfigError, match="unknown attack"):
        evaluate_model(model, to_float(data.images), data.labels, "bim", dataset="synthetic")
