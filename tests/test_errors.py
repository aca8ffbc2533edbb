"""Bad input gives one clear line naming the problem and the fix, never a traceback."""

import json
import math

import pytest
import torch

import enresnet
from enresnet.checkpoint import load_model, save_model
from enresnet.cli import main
from enresnet.errors import CheckpointError, TrainingDivergedError
from enresnet.train import Trainer

from helpers import tiny_config, write_config


def _cli_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert err.startswith("error: ")
    return err


def _write(tmp_path, text):
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    return str(path)


def test_unknown_config_key(tmp_path, capsys):
    cfg = _write(tmp_path, "[train]\nepochs = 1\nlearning_rate = 0.1\n")
    err = _cli_error(capsys, ["train", cfg, "--out", str(tmp_path / "r")])
    assert "unknown key train.learning_rate" in err and "allowed keys:" in err and "lr" in err
    assert not (tmp_path / "r").exists()  # validated before any work


def test_unknown_section_suggests_the_right_one(tmp_path, capsys):
    err = _cli_error(capsys, ["train", _write(tmp_path, "[atack]\neps = 0.1\n")])
    assert "unknown section [atack] (did you mean [attack]?)" in err


def test_negative_epsilon(tmp_path, capsys):
    err = _cli_error(capsys, ["train", _write(tmp_path, '[attack]\neps = "-8/255"\n')])
    assert "attack.eps" in err and "must be in [0, 1]" in err


def test_wrong_type_names_key_and_expected_type(tmp_path, capsys):
    err = _cli_error(capsys, ["train", _write(tmp_path, '[train]\nepochs = "ten"\n')])
    assert "[train] epochs (train.epochs) must be an integer, got 'ten'" in err


def test_missing_dataset_names_the_file_to_place(tmp_path, capsys):
    data = f'[data]\nname = "cifar10"\ndata_dir = "{tmp_path / "nothing"}"\ndownload = false\n'
    cfg = _write(tmp_path, '[model]\nname = "resnet8"\n' + data)
    err = _cli_error(capsys, ["train", cfg, "--out", str(tmp_path / "r")])
    assert "cifar-10-python.tar.gz" in err and "place" in err


def test_checkpoint_of_another_architecture(tmp_path):
    path = save_model(tmp_path / "a", enresnet.create_model("en1_resnet20"))
    with pytest.raises(CheckpointError, match="another architecture than 'en1_resnet32'.*load_model"):
        enresnet.load_weights(enresnet.create_model("en1_resnet32"), path)
    assert isinstance(load_model(path), torch.nn.Module)


def test_truncated_checkpoint(tmp_path, capsys):
    path = save_model(tmp_path / "a", enresnet.create_model("en1_resnet8"))
    raw = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_model(tmp_path / "cut")
    err = _cli_error(capsys, ["integrate", str(tmp_path / "cut"), str(path), "--out", str(tmp_path / "m")])
    assert "corrupted or truncated" in err


def test_flipped_byte_in_weights_is_detected(tmp_path):
    path = save_model(tmp_path / "a", enresnet.create_model("en1_resnet8"))
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x55
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_model(path)


def test_nan_loss_stops_the_run_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    import enresnet.train.trainer as trainer_module

    run = tmp_path / "run"
    config = tiny_config(train={"epochs": 3})
    real = trainer_module.learning_rate
    monkeypatch.setattr(trainer_module, "learning_rate", lambda base, epoch, *a: real(base, epoch, *a) * (
        1e30 if epoch >= 1 else 1))
    trainer = Trainer(config, run, quiet=True)
    with pytest.raises(TrainingDivergedError, match=r"last good checkpoint .*last.safetensors \(epoch 1, step 0\)"):
        trainer.fit()
    model = load_model(run / "last")
    assert model.checkpoint_meta["epoch"] == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_nan_loss_from_the_start_via_cli(tmp_path, capsys, monkeypatch):
    import enresnet.train.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "learning_rate", lambda *args: 1e30)  # beyond what a config may set
    cfg = write_config(tmp_path / "c.toml", tiny_config(train={"epochs": 1}))
    err = _cli_error(capsys, ["train", str(cfg), "--out", str(tmp_path / "r"), "--quiet"])
    assert "the loss became" in err and "Lower train.lr" in err
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("*.safetensors"))


def test_resume_without_a_run(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.toml", tiny_config())
    err = _cli_error(capsys, ["train", str(cfg), "--out", str(tmp_path / "none"), "--resume"])
    assert "cannot resume" in err


def test_resume_with_a_changed_config(tmp_path, capsys):
    cfg = write_config(tmp_path / "c.toml", tiny_config(train={"epochs": 1}))
    assert main(["train", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    cfg2 = write_config(tmp_path / "c2.toml", tiny_config(train={"epochs": 1, "lr": 0.2}))
    err = _cli_error(capsys, ["train", str(cfg2), "--out", str(tmp_path / "r"), "--resume"])
    assert "config differs" in err


def test_diverging_run_keeps_only_finite_checkpoints(tmp_path, monkeypatch):
    """lr = 1e6 with one step per epoch: the loss stays finite while BatchNorm statistics overflow."""
    import enresnet.train.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "learning_rate", lambda *args: 1e6)  # beyond what a config may set
    run = tmp_path / "run"
    config = tiny_config(train={"epochs": 6, "batch_size": 256})
    message = r"BatchNorm tensors .* non-finite by epoch \d, step 1; .*last good"
    with pytest.raises(TrainingDivergedError, match=message):
        Trainer(config, run, quiet=True).fit()
    kept = sorted(run.glob("*.safetensors"))
    assert kept, "the run diverged before its first checkpoint: nothing to check"
    for path in kept:
        model = load_model(path)  # refuses non-finite tensors
        assert all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())
    losses = [json.loads(line)["train_loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(loss) for loss in losses)  # the loss alone would not have stopped it


def test_evaluate_refuses_a_non_finite_checkpoint(tmp_path, capsys):
    model = enresnet.create_model("en1_resnet8")
    model.stages[0][0].bn1.running_var.fill_(float("inf"))
    path = save_model(tmp_path / "a", model)
    err = _cli_error(capsys, ["evaluate", str(path), "--out", str(tmp_path / "e")])
    assert "non-finite values" in err and "diverged" in err


def test_integrate_out_that_is_a_directory(tmp_path, capsys):
    paths = [save_model(tmp_path / n, enresnet.create_model("en1_resnet8")) for n in ("a", "b")]
    (tmp_path / "merged").mkdir()
    err = _cli_error(capsys, ["integrate", *map(str, paths), "--out", str(tmp_path / "merged")])
    assert "is a directory; give a file path such as" in err
    assert not (tmp_path / "merged.safetensors").exists()


@pytest.mark.parametrize("argv", [["pde", "--seed", "-1"], ["pde", "--grid", "100000"], ["plot", "training", "r"]])
def test_cli_values_and_outputs_checked_before_work(tmp_path, capsys, argv):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "x" if argv[0] == "plot" else tmp_path / "out"
    err = _cli_error(capsys, [*argv, "--out", str(out)])
    assert "--seed" in err or "--grid" in err or "cannot be created" in err
