"""torchrun with 2 CPU processes (gloo): sharded batches, all-reduced gradients, one writer.

Reference: with noise off and per-rank BatchNorm, a DDP step on a global batch equals a
single-process step whose forward runs each rank's half separately ("ghost" batches) and
averages the two mean losses. So the trained parameters must equal that reference to float
tolerance. (Against one forward over the whole global batch they differ only through the
BatchNorm batch statistics; SyncBatchNorm, which would remove that, is GPU-only in PyTorch.)
"""

import os
import subprocess
import sys

import torch
import torch.nn.functional as F

from enresnet.checkpoint import read_checkpoint
from enresnet.data import iterate_batches
from enresnet.models import create_model
from enresnet.train import learning_rate, load_training_data

from helpers import tiny_config, write_config


def _ghost_batch_reference(config, world_size):
    cfg = config.train
    torch.manual_seed(cfg.seed)
    train_set, _ = load_training_data(config)
    model = create_model(config.model.name, num_classes=10, in_channels=3, noise_coef=0.0)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)
    model.train()
    for epoch in range(cfg.epochs):
        for group in opt.param_groups:
            group["lr"] = learning_rate(cfg.lr, epoch, cfg.milestones, cfg.gamma)
        for x, y in iterate_batches(train_set, cfg.batch_size, shuffle=True, augment=True, seed=cfg.seed,
                                    epoch=epoch, padding=config.data.padding, flip=config.data.flip):
            halves = zip(x.chunk(world_size), y.chunk(world_size))
            loss = sum(F.cross_entropy(model(xs), ys) for xs, ys in halves) / world_size
            opt.zero_grad()
            loss.backward()
            opt.step()
    return dict(model.named_parameters())


def test_torchrun_two_processes_matches_ghost_batch_reference(tmp_path):
    config = tiny_config(
        model={"name": "resnet8", "noise_coef": 0.0},
        data={"val_size": 32, "options": {"num_samples": 160, "size": 16, "noise": 0.2}},
        train={"epochs": 2, "batch_size": 32, "momentum": 0.9, "milestones": [1]},
    )
    cfg = write_config(tmp_path / "cfg.toml", config)
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "enresnet", "train", str(cfg), "--out", str(run), "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    tensors, meta = read_checkpoint(run / "last")
    assert meta["train_state"]["world_size"] == 2 and meta["epoch"] == 2
    rows = (run / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 2  # one writer
    assert not list(run.glob("*.tmp"))

    reference = _ghost_batch_reference(config, world_size=2)
    for key, expected in reference.items():
        assert torch.allclose(tensors[key], expected.detach(), rtol=1e-4, atol=1e-5), key
