"""Output folders are locked: a second writer fails at once naming the first; a dead holder's lock is stale."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enresnet.atomic import BOOT, HOST
from enresnet.checkpoint import load_model, read_metadata
from enresnet.cli import main
from enresnet.errors import ConfigError, LockedError
from enresnet.locking import LOCK_NAME, run_lock
from enresnet.train.run_dir import RunDir

from helpers import tiny_config, write_config

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
HOLD = "import sys, time; from enresnet.locking import run_lock\nwith run_lock(sys.argv[1], sys.argv[2]):\n" \
       "    print('held', flush=True); time.sleep(60)\n"


def _holder(folder, purpose="evaluate"):
    """A process holding the lock of ``folder`` for ``purpose`` (started and holding when this returns)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), purpose], stdout=subprocess.PIPE, text=True,
                            env=ENV)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_holder_fails_naming_the_first_and_a_dead_holder_is_stale(tmp_path):
    proc = _holder(tmp_path / "out")
    try:
        with pytest.raises(LockedError, match=rf"out is in use by evaluate process {proc.pid} on .*choose another"):
            with run_lock(tmp_path / "out", purpose="train"):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (tmp_path / "out" / LOCK_NAME).exists()  # left by the killed holder
    with run_lock(tmp_path / "out", purpose="train"):
        info = json.loads((tmp_path / "out" / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid() and info["purpose"] == "train"
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def test_lock_is_reentrant_and_cleans_stale_temporaries(tmp_path):
    (tmp_path / "run").mkdir()
    stale = tmp_path / "run" / ".last.safetensors.0123abcd.tmp"
    stale.write_bytes(b"half a checkpoint")
    with run_lock(tmp_path / "run", "train"):
        assert not stale.exists()
        with run_lock(tmp_path / "run", "train"):
            pass
        assert (tmp_path / "run" / LOCK_NAME).exists()  # still held by the outer block
    assert not (tmp_path / "run" / LOCK_NAME).exists() and (tmp_path / "run").is_dir()
    with run_lock(tmp_path / "new", "train"):
        assert (tmp_path / "new").is_dir()
    assert not (tmp_path / "new").exists()  # created by the lock and left empty: removed


def test_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        with run_lock(tmp_path / "f", "train"):
            pass
    cfg = write_config(tmp_path / "c.toml", tiny_config(train={"epochs": 1}))
    assert main(["train", str(cfg), "--out", str(tmp_path / "f"), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_new_run_refuses_a_non_empty_directory(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.safetensors").write_bytes(b"an older run's best")
    cfg = write_config(tmp_path / "c.toml", tiny_config(train={"epochs": 1}))
    assert main(["train", str(cfg), "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is not empty (best.safetensors); it holds no resumable checkpoint" in err
    assert (run / "best.safetensors").read_bytes() == b"an older run's best"
    assert sorted(p.name for p in run.iterdir()) == ["best.safetensors"]


def test_a_run_killed_before_its_first_checkpoint_restarts_with_the_same_config_only(tmp_path, capsys):
    run = tmp_path / "run"
    config = tiny_config(train={"epochs": 1})
    RunDir(run).write_config(config)  # what a run killed in its first epoch leaves
    other = write_config(tmp_path / "other.toml", tiny_config(train={"epochs": 1, "lr": 0.2}))
    assert main(["train", str(other), "--out", str(run), "--quiet"]) == 2
    assert "is not empty (config.json, config.toml)" in capsys.readouterr().err
    same = write_config(tmp_path / "same.toml", config)
    assert main(["train", str(same), "--out", str(run), "--quiet"]) == 0
    assert read_metadata(run / "last")["epoch"] == 1


def test_two_concurrent_train_runs_on_one_out(tmp_path):
    first_cfg = write_config(tmp_path / "a.toml", tiny_config(model={"name": "en1_resnet8"}, train={"epochs": 20}))
    second_cfg = write_config(tmp_path / "b.toml", tiny_config(train={"epochs": 1, "lr": 0.2}))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "enresnet", "train", "--out", str(run), "--quiet"]
    first = subprocess.Popen([*cmd, str(first_cfg)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 120
    while not (run / "config.toml").exists() and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run([*cmd, str(second_cfg)], env=ENV, capture_output=True, text=True, timeout=120)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-2000:]
    assert second.returncode == 2
    assert second.stderr.startswith(f"error: {run} is in use by train process {first.pid} on ")
    assert "Traceback" not in second.stderr
    assert (run / "config.toml").read_text() == first_cfg.read_text()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 20
    assert read_metadata(run / "last")["epoch"] == 20
    assert load_model(run / "best").spec.name == "en1_resnet8"
    assert sorted(p.name for p in run.iterdir()) == [
        "best.safetensors", "config.json", "config.toml", "last.safetensors", "metrics.jsonl", "run.json"]


def test_evaluate_refuses_an_output_folder_in_use(tmp_path, capsys):
    import torch

    import enresnet
    from enresnet.checkpoint import save_model

    torch.manual_seed(0)
    options = {"num_samples": 8, "num_classes": 10, "channels": 3, "size": 8}
    path = save_model(tmp_path / "ckpt", enresnet.create_model("resnet8"),
                      dataset={"name": "synthetic", "options": options})
    proc = _holder(tmp_path / "eval")
    try:
        code = main(["evaluate", str(path), "--attacks", "fgsm", "--sanity-limit", "0", "--out",
                     str(tmp_path / "eval"), "--quiet"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    err = capsys.readouterr().err
    assert code == 2 and f"in use by evaluate process {proc.pid}" in err
    assert not list((tmp_path / "eval").glob("*/*.jsonl"))  # nothing computed, no log doubled


def _temporary(folder, name, pid):
    """The temporary file the writer ``pid`` (on this host, in this boot) makes for ``folder/name``."""
    return folder / f".{name}.{pid}-{HOST}-{BOOT}-0123456789abcdef.tmp"


def test_a_lock_leaves_live_writers_and_sub_folders_alone(tmp_path):
    """Issue 20: taking the lock of RUN deleted ``RUN/eval/.whitebox.json.<hex>.tmp`` while another process held
    the lock of RUN/eval. Only the temporaries of RUN itself whose writer is gone are removed."""
    run = tmp_path / "run"
    proc = _holder(run / "eval")
    gone = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # no process has it
    try:
        live = [_temporary(run / "eval", "whitebox.json", proc.pid), run / "eval" / ".whitebox.json.0123abcd.tmp",
                _temporary(run, "pde.json", proc.pid)]  # a live writer in RUN itself, e.g. an unlocked command
        dead = [_temporary(run, "last.safetensors", gone), run / ".last.safetensors.0123abcd.tmp"]
        for path in live + dead:
            path.write_text("half a file")
        with run_lock(run, "train"):
            assert all(p.read_text() == "half a file" for p in live) and not any(p.exists() for p in dead)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_reproduce_holds_the_lock_of_its_out_for_the_whole_study(tmp_path, capsys):
    """Issue 20: ``reproduce`` took no lock on its --out. A second study on the same --out exits 2 before any
    work, naming the first; the training runs inside lock their own sub-folders (nested locks of one process)."""
    out = tmp_path / "study"
    proc = _holder(out, "reproduce")
    try:
        code = main(["reproduce", "fmnist", "--scale", "tiny", "--out", str(out), "--quiet"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    err = capsys.readouterr().err
    assert code == 2 and f"error: {out} is in use by reproduce process {proc.pid} on " in err
    assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # nothing trained, evaluated or timed
    with run_lock(out, "reproduce"):
        with run_lock(out / "runs" / "en1_resnet20", "train"):
            assert (out / LOCK_NAME).is_file() and (out / "runs" / "en1_resnet20" / LOCK_NAME).is_file()
        assert not (out / "runs" / "en1_resnet20").exists() and (out / LOCK_NAME).is_file()
