"""``enresnet reproduce``: run a named study of the paper end to end (train, evaluate, tables, figures)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import textwrap
from pathlib import Path

from ..reproduce import Reproduction, get_study, studies
from ..threads import apply_thread_policy
from .options import add_quiet, add_threads, integer


def run(args: argparse.Namespace) -> int:
    study = get_study(args.name)
    scale = study.scale(args.scale)
    if study.autoattack and importlib.util.find_spec("pyautoattack") is None:
        print("warning: pyautoattack is not installed, so the tables have no AutoAttack column "
              "(pip install 'enresnet[eval]')", file=sys.stderr)
        study = dataclasses.replace(study, autoattack=False)
    apply_thread_policy(args.threads, args.quiet)
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
    p.add_argument("--seed", type=integer(0, 2**63 - 1), default=0, help="training and evaluation seed (default 0)")
    add_threads(p)
    p.add_argument("--device", default="auto", help="evaluation device: auto, cpu, cuda, cuda:1, ... (training: "
                   "the configs' train.device, auto)")
    add_quiet(p, "no progress bars (one line per epoch while training)")
    p.set_defaults(func=run)
