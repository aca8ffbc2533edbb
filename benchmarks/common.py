"""Shared parts of the benchmark scripts: arguments, data, timing, peak memory, FLOPs, the table.

Every script compares *ours* (the library's real code path) with a *baseline*
(a plain reference implementation) on the same workload, model weights and
synthetic CIFAR-shaped batch (3x32x32 pixels in [0, 1], 10 classes), in one
process, and prints one Markdown table row per model.

* Timing: ``--warmup`` (>= 1) untimed calls of each side, then timed calls
  with ours and the baseline interleaved (a change in machine load hits both),
  at least ``--iters`` per side and more until ours has taken
  ``--min-seconds`` (short calls vary most); the median per side. Images/s is
  the batch size over that median.
  Stateful workloads (training: SGD momentum buffers) are primed on a
  one-image batch when built, so no measured call pays for creating state.
* Peak memory, taken in the last warm-up call (measuring it must not disturb
  the timed calls; with one warm-up call it includes one-time growth of
  process-wide caches, such as oneDNN's, paid by whichever side runs first):
  on CUDA, ``torch.cuda.max_memory_allocated`` above the memory allocated
  when the call starts. On CPU (Linux), the peak resident set
  size during the call (``VmHWM``, reset through ``/proc/self/clear_refs``)
  above the resident size when it starts, after ``malloc_trim`` has handed
  the allocator's free memory back: no tracing allocator, so it includes
  allocator slack.
* FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix
  products) over one call of the baseline on a one-image batch, times the batch
  size (every workload is linear in the batch). Ours does the same arithmetic,
  so its achieved GFLOP/s is those FLOPs over its median time.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import math
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch.utils.flop_counter import FlopCounterMode

from enresnet.device import native_bf16
from enresnet.models import EnResNet

Workload = Callable[[torch.Tensor, torch.Tensor], object]
"""One benchmarked call on a batch ``(images, labels)``; its result is ignored."""

NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)

HEADER = (
    "| workload | model | batch | threads | timed calls | ours img/s | baseline img/s | ratio "
    "| ours peak MiB | baseline peak MiB | ours GFLOP/s |\n"
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


@dataclass
class Pair:
    """Ours and the baseline on one model; both are called with the same batch."""

    ours: Workload
    baseline: Workload


def parse_args(
    description: str, default_models: str, add_options: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """The options every script takes, and the script's own (``add_options``)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--iters", type=int, default=3, help="at least this many timed calls per side (median reported)"
    )
    parser.add_argument("--min-seconds", type=float, default=3.0, help="and more until ours has taken this long")
    parser.add_argument(
        "--warmup", type=int, default=1, help="untimed calls per side first (>= 1; the last measures memory)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--models", default=default_models, help=f"comma-separated names (default: {default_models})")
    if add_options is not None:
        add_options(parser)
    args = parser.parse_args()
    if args.warmup < 1 or args.iters < 1:
        parser.error("--warmup and --iters must be >= 1 (the last warm-up call measures peak memory)")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    return args


def setup(args: argparse.Namespace) -> torch.device:
    """Threads and seed; returns the device."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return torch.device(args.device)


def synthetic_batch(batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random CIFAR-shaped pixels in [0, 1] and labels."""
    x = torch.rand(batch_size, *IMAGE_SHAPE, device=device)
    y = torch.randint(0, NUM_CLASSES, (batch_size,), device=device)
    return x, y


def loop_model(model: torch.nn.Module) -> torch.nn.Module:
    """A baseline's copy of ``model``: an En_n ResNet as the loop over its n separate networks."""
    return model.as_ensemble() if isinstance(model, EnResNet) else copy.deepcopy(model)


# ---------------------------------------------------------------- measuring
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _proc_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE).group(1))


def _cpu_peak_memory(fn: Workload, x: torch.Tensor, y: torch.Tensor) -> float:
    """Peak resident memory of one call above its start (bytes); NaN off Linux/glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident size
        start = _proc_kib("VmRSS")
    except OSError:
        fn(x, y)
        return float("nan")
    fn(x, y)
    return (_proc_kib("VmHWM") - start) * 1024.0


def peak_memory(fn: Workload, x: torch.Tensor, y: torch.Tensor) -> float:
    """Peak memory of one call above the memory in use when it starts (bytes; see module doc)."""
    if x.device.type != "cuda":
        return _cpu_peak_memory(fn, x, y)
    torch.cuda.synchronize(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    start = torch.cuda.memory_allocated(x.device)
    fn(x, y)
    torch.cuda.synchronize(x.device)
    return float(torch.cuda.max_memory_allocated(x.device) - start)


def seconds(fn: Workload, x: torch.Tensor, y: torch.Tensor) -> float:
    """Wall-clock seconds of one call (the device synchronised before and after)."""
    _sync(x.device)
    start = time.perf_counter()
    fn(x, y)
    _sync(x.device)
    return time.perf_counter() - start


class _NoModuleTracker:
    """Stands in for FlopCounterMode's module tracker: every FLOP is counted under "Global" only.

    The tracker's backward hooks make ``torch.autograd.grad`` w.r.t. a leaf input
    fail ("A leaf node was passed to _will_engine_execute_node"), and every
    attack takes exactly that gradient; the per-module breakdown is not needed.
    """

    parents: ClassVar[set[str]] = {"Global"}

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def count_flops(fn: Workload, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of ``fn`` on the batch: counted on its first image, times the batch size."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModuleTracker()
    with counter:
        fn(x[:1], y[:1])
    return counter.get_total_flops() * x.shape[0]


@dataclass
class Measured:
    """Median seconds over the timed calls, their number, and the peak memory (bytes) of the last warm-up call."""

    seconds: float
    calls: int
    peak_bytes: float


def compare(
    pair: Pair, x: torch.Tensor, y: torch.Tensor, iters: int, warmup: int, min_seconds: float
) -> tuple[Measured, Measured]:
    """Peak memory in the last warm-up call, then the median seconds of interleaved timed calls.

    Timed calls go on until each side has had ``iters`` and ours has taken
    ``min_seconds`` in all (short calls are noisy: more of them).
    """
    sides = (pair.ours, pair.baseline)
    for _ in range(warmup - 1):
        for fn in sides:
            fn(x, y)
    peaks = [peak_memory(fn, x, y) for fn in sides]
    times: tuple[list[float], list[float]] = ([], [])
    while len(times[0]) < iters or sum(times[0]) < min_seconds:
        for fn, record in zip(sides, times):
            record.append(seconds(fn, x, y))
    ours, baseline = (Measured(statistics.median(t), len(t), peak) for t, peak in zip(times, peaks))
    return ours, baseline


# ------------------------------------------------------------------- output
def _mib(nbytes: float) -> str:
    return "n/a" if math.isnan(nbytes) else f"{nbytes / 2**20:.0f}"


def row(workload: str, model: str, args: argparse.Namespace, ours: Measured, base: Measured, flops: int) -> str:
    """One Markdown table row (columns of :data:`HEADER`)."""
    batch = args.batch_size
    cells = [
        workload,
        model,
        str(batch),
        str(torch.get_num_threads()),
        str(ours.calls),
        f"{batch / ours.seconds:.2f}",
        f"{batch / base.seconds:.2f}",
        f"{base.seconds / ours.seconds:.2f}",
        _mib(ours.peak_bytes),
        _mib(base.peak_bytes),
        f"{flops / ours.seconds / 1e9:.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def run(
    workload: str,
    description: str,
    default_models: str,
    make_pair: Callable[..., tuple[Pair, str]],
    add_options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """A script's main: for each model, build ours and the baseline, measure, print the row.

    ``make_pair(name, args, device) -> (Pair, label)``: the two workloads on
    model ``name`` and the model's label in the table.
    """
    args = parse_args(description, default_models, add_options)
    device = setup(args)
    print(HEADER, flush=True)
    for name in args.models:
        pair, label = make_pair(name, args, device)
        x, y = synthetic_batch(args.batch_size, device)
        flops = count_flops(pair.baseline, x, y)
        ours, base = compare(pair, x, y, args.iters, args.warmup, args.min_seconds)
        print(row(workload, label, args, ours, base, flops), flush=True)


def machine(device: str, threads: int) -> str:
    """A Markdown line naming the machine, the threads and the torch version."""
    if device.startswith("cuda"):
        what = f"GPU {torch.cuda.get_device_name(torch.device(device))}"
    else:
        lscpu = subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout
        model = re.search(r"^Model name:\s+(.+)$", lscpu, re.MULTILINE)
        what = f"CPU {model.group(1).strip() if model else platform.processor()}, {os.cpu_count()} cores"
        what += ", bf16 instructions (AVX512-BF16/AMX): " + ("yes" if native_bf16(torch.device("cpu")) else "no")
    return f"{what}; {threads} torch threads; torch {torch.__version__}; Python {platform.python_version()}"
