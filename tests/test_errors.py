"""Bad input gives one clear line naming the problem and the fix, never a traceback."""

import errno
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

import enresnet
from enresnet.checkpoint import load_model, read_metadata, save_model
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


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk(folder, name)``: from now on every write into ``folder`` (only to ``name``'s temporary file, when
    given) fails with ENOSPC, as on a full disk; ``full_disk(None)`` frees the space."""
    real_write, real_pwrite = os.write, os.pwrite
    state = {"folder": None, "name": None}

    def refused(fd):
        if state["folder"] is None:
            return False
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        return path.parent == state["folder"] and (state["name"] is None or path.name.startswith(f".{state['name']}."))

    def write(fd, data):
        if refused(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    def pwrite(fd, data, offset):
        if refused(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "pwrite", pwrite)
    return lambda folder, name=None: state.update(folder=folder, name=name)


def test_a_full_disk_is_one_clear_error_and_the_run_resumes_once_space_is_back(tmp_path, capsys, full_disk):
    """Issue 20: ``enresnet train`` on a full disk stopped with an OSError traceback (also on its first checkpoint
    and on --resume while still full). Each is one error naming the folder and the size of the write, exit 2;
    nothing is lost, and the same command (with --resume once a checkpoint exists) continues."""
    run = tmp_path / "run"
    one, two = (write_config(tmp_path / f"{n}.toml", tiny_config(train={"epochs": n})) for n in (1, 2))
    train = ["train", str(one), "--out", str(run), "--quiet"]
    resume = ["train", str(two), "--out", str(run), "--quiet", "--resume"]

    full_disk(run)  # full from the start
    err = _cli_error(capsys, train)
    assert err.startswith(f"error: {run}: no space left on device: writing its lock file .enresnet.lock needs ")
    assert not run.exists()  # the folder it created is removed

    full_disk(run, "last.safetensors")  # full at the first `last` checkpoint
    err = _cli_error(capsys, train)
    assert f"{run}: no space left on device: writing last.safetensors needs about " in err
    assert err.rstrip().endswith("no checkpoint was written yet: run the same command again to start the run")
    assert sorted(p.name for p in run.iterdir()) == ["best.safetensors", "config.json", "config.toml",
                                                     "metrics.jsonl", "run.json"]
    run_id = json.loads((run / "run.json").read_text())["run_id"]
    full_disk(None)
    assert main(train) == 0  # as the advice says; the restarted run keeps its id
    assert read_metadata(run / "last")["run_id"] == run_id and read_metadata(run / "last")["epoch"] == 1
    before = {p.name: p.read_bytes() for p in run.iterdir()}

    full_disk(run)  # --resume while still full
    err = _cli_error(capsys, resume)
    assert err.startswith(f"error: {run}: no space left on device: writing its lock file")
    full_disk(run, "last.safetensors")  # full at the next checkpoint
    err = _cli_error(capsys, resume)
    assert f"{run}: no space left on device: writing last.safetensors needs about " in err
    assert err.rstrip().endswith("the last checkpoint is kept: run the same command again to continue")
    assert (run / "last.safetensors").read_bytes() == before["last.safetensors"]  # the previous checkpoint intact
    assert not list(run.glob(".*.tmp"))
    full_disk(None)
    assert main(resume) == 0
    assert read_metadata(run / "last")["epoch"] == 2 and len((run / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.fixture
def small_filesystem(tmp_path):
    """A tmpfs of 8 MB mounted for the test (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_tmpfs(tmp_path, capsys, small_filesystem):
    """The same on a real filesystem filled up: the write that does not fit fails cleanly, the run resumes."""
    run = small_filesystem / "run"
    one, two = (write_config(tmp_path / f"{n}.toml", tiny_config(train={"epochs": n})) for n in (1, 2))
    assert main(["train", str(one), "--out", str(run), "--quiet"]) == 0
    last = (run / "last.safetensors").read_bytes()
    filler = small_filesystem / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(small_filesystem).free - 64 * 1024))  # 64 kB left
    resume = ["train", str(two), "--out", str(run), "--quiet", "--resume"]
    err = _cli_error(capsys, resume)
    assert re.search(rf"error: {run}: no space left on device: writing (best|last)\.safetensors needs about "
                     rf"[\d.]+ [kM]B \([\d.]+ kB free\)", err), err
    assert (run / "last.safetensors").read_bytes() == last and not list(run.glob(".*.tmp"))
    filler.unlink()
    assert main(resume) == 0 and read_metadata(run / "last")["epoch"] == 2


def test_a_raw_full_disk_error_of_any_command_is_one_line(tmp_path, capsys, monkeypatch):
    """A write not made through enresnet.atomic (e.g. an evaluation log's append) that meets a full quota."""
    import enresnet.cli.models as models_command

    def full(args):
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), str(tmp_path / "out" / "log.jsonl"))

    monkeypatch.setattr(models_command, "run", full)
    err = _cli_error(capsys, ["models"])
    assert err.startswith(f"error: {tmp_path / 'out'}: disk quota exceeded: writing the output needs more space")
    assert err.rstrip().endswith("nothing was written")
