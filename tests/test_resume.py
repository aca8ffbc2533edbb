"""A run killed with SIGKILL mid-epoch resumes to exactly the weights of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys

import torch

from enresnet.checkpoint import model_state, read_checkpoint, read_metadata

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

    def strip(rows):
        return [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in rows]

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
