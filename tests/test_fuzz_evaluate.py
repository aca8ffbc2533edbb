"""Fuzz ``enresnet.evaluate_model``: every input either evaluates or raises the project's error; none hangs.

Inputs are drawn around a tiny valid call (3 images of 8x8 on resnet8, a 1-step attack) with one or more
arguments replaced by hostile values: wrong shapes, dtypes, NaN and out-of-range pixels, wrong channel counts,
tiny images, bool, float and out-of-range labels, unknown or unbounded attack names, bad settings, a model that
is not a module, an out_dir that is a file. Steps stay bounded (attack names are capped at 10,000 steps and the
cases that pass hold at most a few), so a case that runs long is a bug, caught by the deadline.
"""

from __future__ import annotations

import datetime

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import enresnet
from enresnet.errors import EnresnetError
from enresnet.evaluate import EvaluationResult, evaluate_model

N = 3
FUZZ = settings(max_examples=80, deadline=datetime.timedelta(seconds=20),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return enresnet.create_model("resnet8").eval()


def images_strategy():
    good = torch.rand(N, 3, 8, 8)
    return st.sampled_from([
        good, good.double(), good * 255, -good, good.half(), (good * 255).to(torch.uint8), good[:, :1],
        torch.rand(N, 1, 8, 8), torch.rand(N, 3, 1, 1), torch.rand(N, 3, 4, 4), good[0], good[None],
        torch.full((N, 3, 8, 8), float("nan")), torch.full((N, 3, 8, 8), float("inf")), torch.empty(0, 3, 8, 8),
        good.numpy(), good.tolist(), None, "images", good.bool(), torch.rand(N, 4, 8, 8), torch.rand(N, 3, 9, 11),
    ])


def labels_strategy():
    return st.sampled_from([
        torch.tensor([0, 1, 2]), torch.tensor([0, 1]), torch.tensor([0, 1, 10]), torch.tensor([-1, 0, 1]),
        torch.tensor([True, False, True]), torch.tensor([0.0, 1.0, 2.0]), torch.tensor([[0, 1, 2]]),
        torch.tensor([0, 1, 2], dtype=torch.int32), torch.tensor([0, 1, 2], dtype=torch.uint8), [0, 1, 2], None,
        torch.tensor([2**40, 0, 1]), torch.tensor([0, 1, 2]).double(),
    ])


SETTINGS = {
    "attacks": ["fgsm", "ifgsm1", ["fgsm", "pgd1"], "bim", "", None, 5, ["fgsm", 3], "ifgsm100000000000",
                "ifgsm0", "apgd-ce1", "apgd-dlr1", "cwinf1", "autoattack7", "FGSM, IFGSM1", []],
    "dataset": ["synthetic", "fmnist", "Fashion-MNIST", "cifar-10", "", "imagenet", None, 3],
    "eps": [None, 8 / 255, 0.0, -0.1, 1.5, float("nan"), float("inf"), 1e400, "8/255", True],
    "alpha": [None, 1 / 255, 0.0, -1.0, float("nan"), 2.0],
    "eot": [1, 2, 0, -1, 10**9, 2.5, True, None],
    "eot_batch": [None, 1, 0, 10**9, "all"],
    "repeats": [1, 2, 0, 10**9, 1.5],
    "check_draws": [1, 0, -3],
    "batch_size": [2, 0, -1, 10**12, 1.0],
    "seed": [0, -1, 2**63, 2**70, 1.5, "0"],
    "sanity_size": [0, None, -1, "all", 1.5],
    "bf16": [None, True, False, "yes", 1],
    "autoattack_iterations": [1, 0, 10**6],
    "autoattack_eot": [1, 0, 10**6],
    "limits": [None, {"fgsm": 2}, {"fgsm": 0}, {"nope": 1}, ["fgsm"], {"fgsm": 10**20}],
    "stochastic": [None, True, False, "maybe"],
    "progress": [False],
}


@FUZZ
@given(images=images_strategy(), labels=labels_strategy(),
       overrides=st.dictionaries(st.sampled_from(sorted(SETTINGS)), st.integers(0, 15), max_size=4),
       model_kind=st.sampled_from(["module", "module", "module", "none", "function"]),
       out_kind=st.sampled_from(["none", "none", "folder", "file"]))
def test_every_input_evaluates_or_raises_the_projects_error(model, tmp_path, images, labels, overrides, model_kind,
                                                           out_kind):
    kwargs = {"attacks": "fgsm", "dataset": "synthetic", "eot": 1, "repeats": 1, "sanity_size": 0}
    for name, index in overrides.items():
        choices = SETTINGS[name]
        kwargs[name] = choices[index % len(choices)]
    target = {"module": model, "none": None, "function": lambda x: x}[model_kind]
    if out_kind != "none":
        out = tmp_path / f"out-{out_kind}"
        if out_kind == "file":
            out.write_text("not a folder")
        kwargs["out_dir"] = out
    try:
        result = evaluate_model(target, images, labels, **kwargs)
    except EnresnetError:
        return
    assert isinstance(result, EvaluationResult)
    head = result.robust_accuracy
    assert 0 <= head.mean <= min(stats.mean for stats in result.results.values())
