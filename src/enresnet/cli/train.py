"""``enresnet train CONFIG.toml [--out RUN_DIR] [--resume] [--quiet] [--set section.key=value ...]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import load_config, parse_override
from ..outputs import check_output_dir


def run(args: argparse.Namespace) -> int:
    out = check_output_dir(Path(args.out) if args.out else Path("runs") / Path(args.config).stem)
    overrides: dict[str, dict] = {}
    for text in args.set or []:
        section, key, value = parse_override(text)
        overrides.setdefault(section, {})[key] = value
    config = load_config(args.config, overrides)
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
    p = sub.add_parser("train", help="train a model from a TOML config (natural, PGD-AT, TRADES)")
    p.add_argument("config",
                   help="TOML config file (shipped ones: `enresnet config list`, `enresnet config path NAME`)")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last checkpoint (the same config; train.epochs may be "
                   "raised to extend a finished run)")
    p.add_argument("--quiet", action="store_true", help="no progress bars: one line per epoch")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value")
    p.set_defaults(func=run)
