"""Run every benchmark and print docs/benchmarks.md-ready Markdown: the machine, then one table.

Each script runs in its own process, so every ratio is measured within one
process. Per script: ResNet20 and En5ResNet20 at ``--batch-size`` /
``--iters``, En5ResNet20 again with the vectorised member forward, then
WRN-34-10 at ``--wrn-batch-size`` / ``--wrn-iters`` with no warm-up (it is
huge; on a CPU a tiny batch and one iteration is all that fits in minutes).
The IFGSM^20 + EOT-5 evaluation uses the noise-injected En1 versions of
ResNet20 and WRN-34-10 (EOT means nothing without noise), and its WRN batch
is ``--wrn-eval-batch-size`` (100 forward/backward passes per attack).

    python benchmarks/run_all.py --out docs/benchmarks-table.md
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent

SCRIPTS = {
    # script: (small models, the large model)
    "bench_train_natural.py": ("resnet20,en5_resnet20", "wrn34_10"),
    "bench_train_pgd.py": ("resnet20,en5_resnet20", "wrn34_10"),
    "bench_eval_ifgsm_eot.py": ("en1_resnet20,en5_resnet20", "en1_wrn34_10"),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--wrn-batch-size", type=int, default=8)
    parser.add_argument("--wrn-eval-batch-size", type=int, default=2)
    parser.add_argument("--wrn-iters", type=int, default=1)
    parser.add_argument("--skip-wrn", action="store_true", help="leave WRN-34-10 out")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    return parser.parse_args()


def invocations(args: argparse.Namespace) -> list[list[str]]:
    """The command lines, in table order."""
    shared = ["--device", args.device, "--threads", str(args.threads)]
    small = shared + ["--batch-size", str(args.batch_size), "--iters", str(args.iters), "--warmup", str(args.warmup)]
    runs = []
    for script, (models, large) in SCRIPTS.items():
        command = [sys.executable, str(HERE / script)]
        runs.append(command + small + ["--models", models])
        runs.append(command + small + ["--models", "en5_resnet20", "--vectorize"])
        if not args.skip_wrn:
            batch = args.wrn_eval_batch_size if "eval" in script else args.wrn_batch_size
            wrn = ["--batch-size", str(batch), "--iters", str(args.wrn_iters), "--warmup", "0"]
            runs.append(command + shared + wrn + ["--models", large])
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
