"""Extending a finished run: ``--resume`` with a larger ``train.epochs`` (the only key that may change)."""

import pytest
import torch

from enresnet.checkpoint import load_model
from enresnet.errors import ConfigError
from enresnet.train import train

from helpers import tiny_config


def _weights(run):
    return load_model(run / "last").state_dict()


def test_extended_run_equals_the_longer_run(tmp_path):
    train(tiny_config(train={"epochs": 1}), tmp_path / "short", quiet=True)
    metrics = train(tiny_config(train={"epochs": 2}), tmp_path / "short", resume=True, quiet=True)
    train(tiny_config(train={"epochs": 2}), tmp_path / "long", quiet=True)
    assert [row["epoch"] for row in metrics] == [1, 2]
    extended, straight = _weights(tmp_path / "short"), _weights(tmp_path / "long")
    assert extended.keys() == straight.keys()
    for key in straight:
        torch.testing.assert_close(extended[key], straight[key], rtol=0, atol=0, msg=key)


def test_other_keys_and_fewer_epochs_are_refused(tmp_path):
    train(tiny_config(train={"epochs": 2}), tmp_path, quiet=True)
    with pytest.raises(ConfigError, match="only train.epochs may change"):
        train(tiny_config(train={"epochs": 3, "lr": 0.01}), tmp_path, resume=True, quiet=True)
    with pytest.raises(ConfigError, match="has finished 2 epochs: train.epochs = 1 is fewer"):
        train(tiny_config(train={"epochs": 1}), tmp_path, resume=True, quiet=True)
