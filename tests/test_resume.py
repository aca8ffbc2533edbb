"""A run killed with SIGKILL mid-epoch resumes to exactly the weights of an uninterrupted run; --resume takes only
the run's own, complete files."""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from enresnet.checkpoint import model_state, read_checkpoint, read_metadata, save_checkpoint
from enresnet.cli import main

from helpers import tiny_config, write_config

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

KILL_AT_STEP = """
import os, signal, sys
from enresnet.cli import main
from enresnet.train.trainer import Trainer
step, calls = Trainer.train_step, [0]
def train_step(self, x, y):
    calls[0] += 1
    if calls[0] == 38:
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, x, y)
Trainer.train_step = train_step
sys.exit(main(sys.argv[1:]))
"""


def _train_cmd(config_path, out, *extra):
    return [sys.executable, "-m", "enresnet", "train", str(config_path), "--out", str(out), "--quiet", *extra]


def _model_tensors(path):
    return model_state(read_checkpoint(path)[0])


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    config = tiny_config(
        model={"name": "en2_resnet8"},
        data={"options": {"num_samples": 576, "size": 16, "noise": 0.2}},
        train={"method": "pgd", "epochs": 2, "batch_size": 16, "checkpoint_every": 3, "lr": 0.05,
               "milestones": [1]},
        attack={"steps": 1},
        validation={"attack_steps": 1},
    )
    cfg = write_config(tmp_path / "cfg.toml", config)
    reference = tmp_path / "reference"
    subprocess.run(_train_cmd(cfg, reference), check=True, env=ENV, capture_output=True, timeout=600)

    run = tmp_path / "killed"
    # Deterministic, no polling race: the process SIGKILLs itself before its 38th step (32 steps an epoch),
    # two steps past the checkpoint at step 3 of the second epoch.
    killed = subprocess.run([sys.executable, "-c", KILL_AT_STEP, *_train_cmd(cfg, run)[3:]], env=ENV,
                            capture_output=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    state = read_metadata(run / "last.safetensors")["train_state"]
    killed_at = (state["epoch"], state["step"])
    assert killed_at == (1, 3), killed_at  # second epoch, mid-way

    subprocess.run(_train_cmd(cfg, run, "--resume"), check=True, env=ENV, capture_output=True, timeout=600)
    expected = _model_tensors(reference / "last")
    resumed = _model_tensors(run / "last")
    assert expected.keys() == resumed.keys()
    for key in expected:
        assert torch.equal(expected[key], resumed[key]), key
    ref_rows = (reference / "metrics.jsonl").read_text().splitlines()
    run_rows = (run / "metrics.jsonl").read_text().splitlines()

    def strip(rows):  # the time and the run's id differ
        return [{k: v for k, v in json.loads(r).items() if k not in ("seconds", "run_id")} for r in rows]

    assert strip(ref_rows) == strip(run_rows)


def test_resume_refuses_an_edited_epoch(tmp_path):
    """Editing the stored epoch (one byte of metadata) would make --resume redo an epoch: it is refused."""
    cfg = write_config(tmp_path / "cfg.toml", tiny_config(train={"epochs": 2}))
    subprocess.run(_train_cmd(cfg, tmp_path / "run"), check=True, env=ENV, capture_output=True, timeout=600)
    last = tmp_path / "run" / "last.safetensors"
    raw = last.read_bytes()
    assert b'\\"epoch\\": 2' in raw
    last.write_bytes(raw.replace(b'\\"epoch\\": 2', b'\\"epoch\\": 1', 1))
    done = subprocess.run(_train_cmd(cfg, tmp_path / "run", "--resume"), env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 2
    assert "metadata does not match its SHA-256" in done.stderr and "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two finished one-epoch runs of the same config and seed, and a config extending them to two epochs."""
    root = tmp_path_factory.mktemp("two_runs")
    cfg = write_config(root / "cfg.toml", tiny_config(train={"epochs": 1}))
    for name in ("a", "b"):
        assert main(["train", str(cfg), "--out", str(root / name), "--quiet"]) == 0
    return root, write_config(root / "longer.toml", tiny_config(train={"epochs": 2}))


def _run_id(run):
    return json.loads((run / "run.json").read_text())["run_id"]


def _resume(run, cfg, capsys):
    code = main(["train", str(cfg), "--out", str(run), "--quiet", "--resume"])
    return code, capsys.readouterr().err


def _resave(path, edit_tensors=lambda t: t, edit_meta=lambda m: m):
    """Rewrite the checkpoint ``path`` edited, with its digests recomputed (a deliberate edit, not corruption)."""
    tensors, meta = read_checkpoint(path)
    save_checkpoint(path, edit_tensors(tensors), edit_meta(meta))


@pytest.mark.parametrize("copied", ["last.safetensors", "best.safetensors", "metrics.jsonl"])
def test_resume_refuses_another_runs_files(two_runs, tmp_path, capsys, copied):
    """Issue 20: another run's ``last`` (same config and seed), ``best`` or metrics copied in were taken."""
    root, longer = two_runs
    run = shutil.copytree(root / "a", tmp_path / "a")
    shutil.copy(root / "b" / copied, run / copied)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, err = _resume(run, longer, capsys)
    assert code == 2 and "Traceback" not in err
    assert (f"error: {run / copied} belongs to run {_run_id(root / 'b')}, but {run} is run {_run_id(root / 'a')} "
            f"(run.json): it was copied from another run directory") in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing written


def _drop_weight_grad(tensors):
    return {k: v for k, v in tensors.items() if k != "train/weight_grad"}


def _drop_best(meta):
    return dict(meta, train_state={k: v for k, v in meta["train_state"].items() if k != "best"})


def _text_world_size(meta):
    return dict(meta, train_state=dict(meta["train_state"], world_size="1"))


@pytest.mark.parametrize("edit_tensors, edit_meta, missing", [
    (_drop_weight_grad, lambda m: m, "train/weight_grad"),
    (lambda t: t, _drop_best, "best"),
    (lambda t: t, _text_world_size, "world_size"),
])
def test_resume_refuses_an_incomplete_training_state(two_runs, tmp_path, capsys, edit_tensors, edit_meta, missing):
    """Issue 20: a ``last`` edited (digests recomputed) to lack ``train/weight_grad`` failed with a KeyError."""
    root, longer = two_runs
    run = shutil.copytree(root / "a", tmp_path / "a")
    _resave(run / "last.safetensors", edit_tensors, edit_meta)
    code, err = _resume(run, longer, capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{run / 'last.safetensors'} lacks a valid {missing} in its training state" in err


def test_a_run_without_ids_still_resumes(two_runs, tmp_path, capsys):
    """Runs of versions before run ids: a missing id is unknown, not a mismatch; the run gets an id on resume."""
    root, longer = two_runs
    run = shutil.copytree(root / "a", tmp_path / "a")
    for name in ("last.safetensors", "best.safetensors"):
        _resave(run / name, edit_meta=lambda m: {k: v for k, v in m.items() if k != "run_id"})
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    (run / "metrics.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "run_id"}) + "\n"
                                               for r in rows))
    (run / "run.json").unlink()
    code, err = _resume(run, longer, capsys)
    assert code == 0, err
    run_id = _run_id(run)
    assert run_id != _run_id(root / "a") and read_metadata(run / "last")["run_id"] == run_id
    assert [json.loads(line).get("run_id") for line in (run / "metrics.jsonl").read_text().splitlines()] == [
        None, run_id]
