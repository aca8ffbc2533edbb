"""``enresnet reproduce``: run a named study of the paper end to end (train, evaluate, tables, figures)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import textwrap
from pathlib import Path

from ..reproduce import Reproduction, SeedStudy, get_study, studies
from ..threads import apply_thread_policy
from .options import add_quiet, add_threads, integer, seed_list


def run(args: argparse.Namespace) -> int:
    study = get_study(args.name)
    scale = study.scale(args.scale)
    if study.autoattack and importlib.util.find_spec("pyautoattack") is None:
        print("warning: pyautoattack is not installed, so the tables have no AutoAttack column "
              "(pip install 'enresnet[eval]')", file=sys.stderr)
        study = dataclasses.replace(study, autoattack=False)
    apply_thread_policy(args.threads, args.quiet)
    out = args.out or Path("runs") / f"{study.name}-{scale.name}"
    seeds = args.seeds or (scale.seeds if args.seed is None else ())
    if args.analyse and not seeds:
        why = "--seed names one run" if args.seed is not None else f"scale {scale.name!r} has no seeds of its own"
        print(f"error: --analyse judges a multi-seed study's tables, but {why}; name the seeds with --seeds "
              "(e.g. --seeds 0-4) or drop --analyse", file=sys.stderr)
        return 2
    if seeds:
        path = SeedStudy(study, scale, out, seeds, args.data_dir, progress=not args.quiet,
                         device=args.device).run(train=not args.analyse)
    else:
        path = Reproduction(study, scale, out, args.data_dir, args.seed or 0, progress=not args.quiet,
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
                   help="smoke, medium, seeds, seeds-gpu, full or tiny where the study has them (default: "
                   "fmnist smoke, CIFAR full)")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: runs/NAME-SCALE)")
    p.add_argument("--data-dir", default=None, help="where the dataset lives (CIFAR is never downloaded here)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=integer(0, 2**63 - 1), default=None,
                       help="one run at this training and evaluation seed (default 0; a multi-seed scale such as "
                       "fmnist's `seeds` runs its own seeds unless --seed or --seeds is given)")
    seeds.add_argument("--seeds", type=seed_list, default=None,
                       help="a study of methods: the study once per seed (0-4, 0,2,7 or 0-2,9) into OUT/seed-S, "
                       "each seed fixing split, order, augmentation and initialisation; the claims judged across "
                       "seeds (t-intervals, two one-sided tests, Holm) in OUT/claims.md")
    p.add_argument("--analyse", action="store_true",
                   help="train and evaluate nothing: judge the per-seed tables already in OUT (OUT/seed-*/"
                   "whitebox.json and the runs' metrics) and rewrite OUT's models, claims and results.md; "
                   "recomputes a committed study (docs/runs/fmnist-seeds) or merges seeds run elsewhere")
    add_threads(p)
    p.add_argument("--device", default="auto", help="evaluation device: auto, cpu, cuda, cuda:1, ... (training: "
                   "the configs' train.device, auto)")
    add_quiet(p, "no progress bars (one line per epoch while training)")
    p.set_defaults(func=run)
