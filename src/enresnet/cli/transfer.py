"""``enresnet transfer``: blind attacks (paper Tables 3 and 6).

Adversarial images are made white-box on the oracle model and classified by
the target model: "we use the target model to classify the adversarial images
crafted by applying FGSM, IFGSM^20, and C&W attacks to the oracle model".
"""

from __future__ import annotations

import argparse
import sys

from ..checkpoint import load_model
from ..evaluate import Row, evaluate_attacks, write_tables
from ..evaluate.inputs import check_compatible, model_label
from ..locking import run_lock
from ..outputs import check_output_dir
from .evaluate import add_shared_arguments, device_from, prepare, run_dir, safe_name


def run(args: argparse.Namespace) -> int:
    """Hold the lock of --out (another evaluation there fails at once) and run the blind attacks."""
    check_output_dir(args.out)
    with run_lock(args.out, purpose="transfer"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    device = device_from(args.device)
    oracle = load_model(args.oracle, device)
    targets = [load_model(p, device) for p in args.target]
    attacks, data, attack, settings, notes, _ = prepare(args, targets[0])
    check_compatible(oracle, data)
    oracle_label = model_label(oracle)
    rows = []
    for target in targets:
        check_compatible(target, data)
        label = model_label(target)
        print(f"transfer {oracle_label} -> {label} on {len(data)} images: {', '.join(attacks)}", file=sys.stderr)
        out = run_dir(args, target) / f"from-{safe_name(oracle_label)}"
        results = evaluate_attacks(target, data, attacks, attack, settings, out, source=oracle,
                                   progress=not args.quiet)
        rows.append(Row(label, data.name, results, oracle=oracle_label))
    notes.append("Adversarial images made white-box on the oracle, classified by the model (blind attack).")
    meta = {"oracle": str(args.oracle), "targets": [str(p) for p in args.target], "eps": attack.eps,
            "alpha": attack.alpha, "eot": attack.eot, "repeats": settings.repeats}
    json_path, md_path, text = write_tables(args.out, "transfer", rows, attacks, notes, meta)
    print(text)
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "transfer",
        help="blind attacks: adversarial images of an oracle model classified by a target (Tables 3, 6)",
        description="Blind (transfer) attacks, paper Sec. 3.2 and Tables 3 and 6. See docs/evaluation.md.",
    )
    p.add_argument("--oracle", required=True, metavar="CKPT", help="the model the attacks are made on")
    p.add_argument("--target", required=True, action="append", metavar="CKPT",
                   help="the model that classifies them (repeat for several)")
    add_shared_arguments(p)
    p.set_defaults(func=run)
