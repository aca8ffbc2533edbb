"""``enresnet train CONFIG.toml [--out RUN_DIR] [--resume] [--quiet] [--threads N] [--set section.key=value ...]``.

Everything that needs no data is checked before torch is imported: the output folder, the config
(file, TOML, every key), the lock of the run directory and whether a run can start (or resume) there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from ..config import Setting, load_config
from ..locking import run_lock
from ..outputs import check_output_dir
from ..threads import apply_thread_policy
from ..train.run_dir import RunDir
from .options import add_quiet, add_threads


def run(args: argparse.Namespace) -> int:
    out = check_output_dir(Path(args.out) if args.out else Path("runs") / Path(args.config).stem)
    config = load_config(args.config, [Setting.parse(text) for text in args.set or []])
    main_process = os.environ.get("RANK", "0") == "0"  # torchrun's other ranks write nothing
    with run_lock(out, purpose="train") if main_process else contextlib.nullcontext():
        RunDir(out).check_start(config, args.resume)
        apply_thread_policy(args.threads, args.quiet)
        from ..train import train

        metrics = train(config, out, resume=args.resume, quiet=args.quiet)
    if metrics:
        last = metrics[-1]
        print(
            f"finished {len(metrics)} epochs in {out}: "
            + ", ".join(f"{k}={v:.4f}" for k, v in last.items() if k.startswith("val_") and v is not None)
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a TOML config (natural, PGD-AT, TRADES)",
        description="Train the model a TOML config describes (paper Sec. 3.3, 4.1, Algorithm 1): checkpoints "
        "RUN_DIR/last (resumable) and RUN_DIR/best, metrics.jsonl. The config is checked before any data is read. "
        "See docs/training.md.",
    )
    p.add_argument("config", metavar="CONFIG",
                   help="TOML config file (shipped ones: `enresnet config list`, `enresnet config path NAME`)")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint (the same config; train.epochs may be "
                   "raised to extend a finished run)")
    add_quiet(p, "no progress bars: one line per epoch")
    add_threads(p)
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value")
    p.set_defaults(func=run)
