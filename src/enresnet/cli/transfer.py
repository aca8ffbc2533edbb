"""``enresnet transfer``: blind attacks (paper Tables 3 and 6).

Adversarial images are made white-box on the oracle model and classified by
the target model: "we use the target model to classify the adversarial images
crafted by applying FGSM, IFGSM^20, and C&W attacks to the oracle model".
"""

from __future__ import annotations

import argparse

from .evaluate import (
    add_shared_arguments,
    check_before_work,
    device_from,
    earlier_rows,
    plan_from,
    run_dir,
    say,
    start_work,
    test_data,
    write_with_earlier,
)


def run(args: argparse.Namespace) -> int:
    """Check every option and file, hold the lock of --out (another evaluation there fails at once), run the blind
    attacks."""
    check_before_work(args, [args.oracle, *args.target])
    start_work(args)
    from ..checkpoint import load_model
    from ..evaluate import run_plan
    from ..evaluate.inputs import check_compatible, file_label, model_label
    from ..locking import run_lock

    device = device_from(args.device)
    oracle = load_model(args.oracle, device)
    targets = [load_model(p, device) for p in args.target]
    plan = plan_from(args, targets[0])
    data = test_data(args, targets[0], plan)
    for model in (oracle, *targets):
        check_compatible(model, data)
    oracle_label = model_label(oracle)
    with run_lock(args.out, purpose="transfer"):
        meta = plan.as_dict() | {"oracle": str(args.oracle)}
        kept = earlier_rows(args.out, meta, {model_label(t) for t in targets}, stem="transfer")
        results = []
        for target in targets:
            say(args, f"transfer {oracle_label} -> {model_label(target)} on {len(data)} images: "
                f"{', '.join(plan.attacks)}")
            out = run_dir(args, target) / f"from-{file_label(oracle_label)}"
            results.append(run_plan(plan, target, data, oracle=oracle, out_dir=out, progress=not args.quiet))
        meta |= {"targets": kept["checkpoints"] + [str(p) for p in args.target]}
        text = write_with_earlier(args.out, "transfer", kept, results, list(plan.attacks), meta)
    print(text)
    say(args, f"wrote {args.out / 'transfer.json'} and {args.out / 'transfer.md'}")
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
