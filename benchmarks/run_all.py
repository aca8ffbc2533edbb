"""Run every benchmark and print docs/benchmarks.md-ready Markdown: the machine, then one table.

Each script runs in its own process, so every ratio is measured within one
process. Small models get at least ``--iters`` timed calls per side, and more
until ours has taken ``--min-seconds``. Per training script: ResNet20 and
En5ResNet20 at ``--batch-size`` (the device's speed defaults), En5ResNet20 again
in fp32 NCHW (``--amp off --channels-last off``), then WRN-34-10 at ``--wrn-batch-size`` / ``--wrn-iters`` after a
single warm-up call (it is huge: on a CPU a tiny batch and one iteration is all
that fits in minutes). The IFGSM^20 + EOT-5 evaluation (100 forward/backward
passes per attacked batch) runs the noise-injected En1 ResNet20 and En5ResNet20
at ``--eval-batch-size``, En1 again with one noise draw
per forward pass (``eot_batch=1``), and the noise-injected WRN-34-10 at
``--wrn-eval-batch-size``. About 12 minutes on a quiet 2-core CPU.

    python benchmarks/run_all.py --out /tmp/benchmarks.md
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16, help="training benchmarks, small models")
    parser.add_argument("--eval-batch-size", type=int, default=4, help="evaluation benchmark, small models")
    parser.add_argument("--iters", type=int, default=2, help="small models: at least this many timed calls")
    parser.add_argument(
        "--min-seconds", type=float, default=3.0, help="small models: and more until ours took this long"
    )
    parser.add_argument("--warmup", type=int, default=2, help="small models (WRN-34-10: 1)")
    parser.add_argument("--wrn-batch-size", type=int, default=8, help="training benchmarks, WRN-34-10")
    parser.add_argument("--wrn-eval-batch-size", type=int, default=1, help="evaluation benchmark, WRN-34-10")
    parser.add_argument("--wrn-iters", type=int, default=1)
    parser.add_argument("--skip-wrn", action="store_true", help="leave WRN-34-10 out")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    return parser.parse_args()


def invocations(args: argparse.Namespace) -> list[list[str]]:
    """The command lines, in table order."""

    def script(name: str, batch: int, iters: int, warmup: int, min_seconds: float = 0.0) -> list[str]:
        sizes = ["--batch-size", str(batch), "--iters", str(iters), "--warmup", str(warmup)]
        sizes += ["--min-seconds", str(min_seconds)]
        return [sys.executable, str(HERE / name), "--device", args.device, "--threads", str(args.threads), *sizes]

    runs = []
    for name in ("bench_train_natural.py", "bench_train_pgd.py"):
        small = script(name, args.batch_size, args.iters, args.warmup, args.min_seconds)
        runs += [small + ["--models", "resnet20,en5_resnet20"],
                 small + ["--models", "en5_resnet20", "--amp", "off", "--channels-last", "off"]]
        if not args.skip_wrn:
            runs.append(script(name, args.wrn_batch_size, args.wrn_iters, 1) + ["--models", "wrn34_10"])
    small = script("bench_eval_ifgsm_eot.py", args.eval_batch_size, args.iters, args.warmup, args.min_seconds)
    runs += [
        small + ["--models", "en1_resnet20,en5_resnet20"],
        small + ["--models", "en1_resnet20", "--eot-batch", "1"],
    ]
    if not args.skip_wrn:
        runs.append(
            script("bench_eval_ifgsm_eot.py", args.wrn_eval_batch_size, args.wrn_iters, 1)
            + ["--models", "en1_wrn34_10"]
        )
    return runs


def table_rows(command: list[str]) -> list[str]:
    """Run one script; its table rows (its header left out)."""
    print("running:", " ".join(command[1:]), file=sys.stderr, flush=True)
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    header = set(common.HEADER.splitlines())
    return [line for line in out.splitlines() if line.startswith("| ") and line not in header]


def main() -> None:
    args = parse_args()
    rows = [row for command in invocations(args) for row in table_rows(command)]
    markdown = "\n".join([f"Machine: {common.machine(args.device, args.threads)}.", "", common.HEADER, *rows, ""])
    print(markdown)
    if args.out:
        args.out.write_text(markdown)


if __name__ == "__main__":
    main()
