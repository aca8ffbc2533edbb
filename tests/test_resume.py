"""A run killed with SIGKILL mid-epoch resumes to exactly the weights of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import torch

from enresnet.checkpoint import model_state, read_checkpoint, read_metadata

from helpers import tiny_config, write_config

ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


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
    proc = subprocess.Popen(_train_cmd(cfg, run), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_at = None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        last = run / "last.safetensors"
        if last.exists():
            state = read_metadata(last)["train_state"]
            if state["epoch"] == 1 and state["step"] > 0:  # second epoch, mid-way
                proc.send_signal(signal.SIGKILL)
                killed_at = (state["epoch"], state["step"])
                break
        time.sleep(0.01)
    proc.wait(timeout=60)
    assert killed_at is not None, "the run finished before it could be killed mid-epoch"
    assert proc.returncode == -signal.SIGKILL

    subprocess.run(_train_cmd(cfg, run, "--resume"), check=True, env=ENV, capture_output=True, timeout=600)
    expected = _model_tensors(reference / "last")
    resumed = _model_tensors(run / "last")
    assert expected.keys() == resumed.keys()
    for key in expected:
        assert torch.equal(expected[key], resumed[key]), key
    ref_rows = (reference / "metrics.jsonl").read_text().splitlines()
    run_rows = (run / "metrics.jsonl").read_text().splitlines()
    strip = lambda rows: [{k: v for k, v in __import__("json").loads(r).items() if k != "seconds"} for r in rows]
    assert strip(ref_rows) == strip(run_rows)
