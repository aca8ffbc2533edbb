"""Where a training step's device time goes: the torch profiler over a few steps of ``Trainer.train_step``.

    PYTHONPATH=src python3 benchmarks/profile_step.py --device cuda --models en5_resnet20 --capture off

Prints, per model, the operators sorted by their own device time (CUDA kernels on a GPU,
CPU time on a CPU) and the number of device kernels per step: at batch 128 an En_n
ResNet20 step is bound by how many small kernels it launches, not by arithmetic.
Speed options as in the training benchmarks (``--amp``, ``--channels-last``, ``--capture``).
"""

from __future__ import annotations

import argparse

import torch
from common import synthetic_batch
from torch.profiler import ProfilerActivity, profile
from training import add_speed_options, make_trainer, speed_label, speed_overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", default="en5_resnet20")
    parser.add_argument("--method", default="pgd", choices=["pgd", "natural", "trades"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3, help="profiled steps")
    parser.add_argument("--rows", type=int, default=25)
    add_speed_options(parser)
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    for name in args.models.split(","):
        trainer = make_trainer(args.method, name, args.batch_size, device, speed_overrides(args))
        x, y = synthetic_batch(args.batch_size, device)
        for _ in range(5):  # warm-up and, with capture, the recording
            trainer.train_step(x, y)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            for _ in range(args.steps):
                trainer.train_step(x, y)
            if cuda:
                torch.cuda.synchronize(device)
        events = prof.key_averages()
        key = "self_device_time_total" if cuda else "self_cpu_time_total"
        print(f"## {name}{speed_label(trainer)}, batch {args.batch_size}, {args.steps} steps")
        print(events.table(sort_by=key, row_limit=args.rows, max_name_column_width=60))
        if cuda:
            kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
            busy = sum(e.device_time for e in kernels) / 1e3 / args.steps
            print(f"device kernels per step: {len(kernels) / args.steps:.0f}; kernel time per step: {busy:.1f} ms")


if __name__ == "__main__":
    main()
