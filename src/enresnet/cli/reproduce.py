"""``enresnet reproduce``: run a named study of the paper end to end (train, evaluate, tables, figures)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import textwrap
from pathlib import Path

import torch

from ..errors import ConfigError
from ..reproduce import Reproduction, get_study, studies


def run(args: argparse.Namespace) -> int:
    study = get_study(args.name)
    scale = study.scale(args.scale)
    if study.autoattack and importlib.util.find_spec("pyautoattack") is None:
        print("warning: pyautoattack is not installed, so the tables have no AutoAttack column "
              "(pip install 'enresnet[eval]')", file=sys.stderr)
        study = dataclasses.replace(study, autoattack=False)
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    out = args.out or Path("runs") / f"{study.name}-{scale.name}"
    path = Reproduction(study, scale, out, args.data_dir, args.seed, progress=not args.quiet,
                        device=args.device).run()
    print(path)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    known = studies()
    lines = [textwrap.fill(f"{s.name}: {s.title} (scales: {', '.join(s.scales)})", 100, initial_indent="  ",
                           subsequent_indent="    ") for s in known.values()]
    p = sub.add_parser(
        "reproduce",
        help="run a named study end to end: train, evaluate, tables, figures, results.md",
        description=textwrap.fill(
            "Train every model of a study (a rerun skips finished models and resumes unfinished ones), evaluate "
            "them (paper protocol, AutoAttack, transfer, sanity checks), and write the tables, figures and "
            "results.md under --out. The configs are those shipped with the package (`enresnet config list`).",
            100,
        ) + "\n\nStudies:\n" + "\n".join(lines),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", metavar="NAME", help=f"the study: {', '.join(known)}")
    p.add_argument("--scale", default=None,
                   help="smoke, medium, full or tiny where the study has them (default: fmnist smoke, CIFAR full)")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: runs/NAME-SCALE)")
    p.add_argument("--data-dir", default=None, help="where the dataset lives (CIFAR is never downloaded here)")
    p.add_argument("--seed", type=int, default=0, help="training and evaluation seed (default 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (default: torch's; use 1 when other processes share the cores: "
                   "oversubscribed threads were measured 4x slower)")
    p.add_argument("--device", default="auto", help="evaluation device: auto, cpu, cuda, cuda:1, ... (training: "
                   "the configs' train.device, auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
