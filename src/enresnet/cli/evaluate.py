"""``enresnet evaluate``: natural and white-box robust accuracy (paper Table 2), with sanity checks.

Also holds the options and steps it shares with ``enresnet transfer``. Torch-free until the work
starts: numeric options are checked by argparse, the output folder and the checkpoint files (a
folder, JSON, TOML ... is named as what it is) before any model or data is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..checkpoint_file import check_checkpoint_file
from ..errors import ConfigError
from ..outputs import check_output_dir
from ..threads import apply_thread_policy
from .options import Deferred, add_quiet, add_threads, attack_forms, budget, dataset, integer

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..data import ImageDataset
    from ..evaluate import EvaluationPlan


def add_shared_arguments(p: argparse.ArgumentParser) -> None:
    """Options of both ``evaluate`` and ``transfer``: every field of the evaluation plan."""
    attacks = p.add_argument(
        "--attacks", default=None,
        help="comma-separated; valid: %(valid)s (default: the paper's fgsm,ifgsm20,cw and AutoAttack's APGD-CE and "
        "APGD-DLR, see docs/evaluation.md)")
    attacks.valid = Deferred(attack_forms)
    p.add_argument("--eot", type=integer(1), default=5,
                   help="EOT draws per attack gradient of a stochastic model (paper: 5)")
    p.add_argument("--eot-batch", type=integer(1), default=None,
                   help="at most this many EOT replicas per forward pass (default: all at once)")
    p.add_argument("--repeats", type=integer(1), default=5,
                   help="predictions per image of a stochastic model: mean ± std and worst case (default 5)")
    p.add_argument("--check-draws", type=integer(1), default=10,
                   help="predictions that decide whether an AutoAttack candidate fools a stochastic model")
    p.add_argument("--autoattack-iterations", type=integer(1), default=100,
                   help="APGD iterations inside AutoAttack (default: its own 100; fewer is named in the notes)")
    p.add_argument("--autoattack-eot", type=integer(1), default=20,
                   help="EOT draws inside AutoAttack 'rand' (default: its own 20)")
    p.add_argument("--autoattack-limit", type=integer(1), default=None,
                   help="run AutoAttack on the first N images only (default: all)")
    p.add_argument("--dataset", type=dataset, default=None, help="override the checkpoint's dataset (cifar10, "
                   "cifar100, fashion_mnist or fmnist, synthetic)")
    p.add_argument("--data-dir", default=None, help="override the checkpoint's data directory")
    p.add_argument("--limit", type=integer(1), default=None, help="evaluate the first N test images only")
    p.add_argument("--batch-size", type=integer(1), default=128, help="images per batch (default 128)")
    p.add_argument("--eps", type=budget, default=None,
                   help="l_inf budget in pixel units, e.g. 8/255 or 0.1 (default: the checkpoint's adversarial-"
                   "training budget on this dataset, else the dataset's convention: CIFAR 8/255, Fashion-MNIST 0.1)")
    p.add_argument("--alpha", type=budget, default=None,
                   help="IFGSM step in pixel units, e.g. 2/255 (default: with the checkpoint's budget its step, else "
                   "the convention's step scaled with eps: CIFAR 2/255, Fashion-MNIST 0.01)")
    p.add_argument("--out", type=Path, default=Path("evaluation"),
                   help="output directory: per-batch logs (resumable) and the tables (default: evaluation)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--seed", type=integer(0, 2**63 - 1), default=0, help="seed of the attacks' and predictions' "
                   "noise (default 0)")
    p.add_argument("--amp", choices=("auto", "bf16", "none"), default="auto",
                   help="attack gradients from bf16 forward passes (predictions always fp32): auto = where bf16 is "
                   "fast (CUDA, CPUs with AVX512-BF16/AMX); none = the paper's fp32")
    add_quiet(p, "no progress bars and no 'evaluating ...' or 'wrote ...' lines (the table is still printed)")
    add_threads(p)


def check_before_work(args: argparse.Namespace, checkpoints: list) -> None:
    """The checks that need no torch, model or data: the output folder and the checkpoint files."""
    check_output_dir(args.out)
    for path in checkpoints:
        check_checkpoint_file(path)


def start_work(args: argparse.Namespace) -> None:
    """Once every cheap check passed: the thread policy, and the attack names (torch, no model or data yet)."""
    from ..evaluate.protocol import parse_attacks

    apply_thread_policy(args.threads, args.quiet)
    if args.attacks is not None:
        parse_attacks(args.attacks)


def say(args: argparse.Namespace, text: str) -> None:
    """A line on stderr unless ``--quiet``."""
    if not args.quiet:
        print(text, file=sys.stderr)


def device_from(name: str) -> torch.device:
    from ..device import resolve_device

    return resolve_device(name, "--device")


def plan_from(args: argparse.Namespace, model: nn.Module, sanity_size: int | None = 0) -> EvaluationPlan:
    """The evaluation plan the options describe for ``model``'s checkpoint (checked before any data is read)."""
    from ..evaluate import make_plan

    limits = {"autoattack": args.autoattack_limit} if args.autoattack_limit is not None else None
    chosen = {"attacks": args.attacks} if args.attacks is not None else {}  # else make_plan's default set
    return make_plan(
        args.dataset, model, **chosen, eps=args.eps, alpha=args.alpha, eot=args.eot,
        eot_batch=args.eot_batch, repeats=args.repeats, check_draws=args.check_draws, batch_size=args.batch_size,
        seed=args.seed, bf16=None if args.amp == "auto" else args.amp == "bf16", device=device_from(args.device),
        autoattack_iterations=args.autoattack_iterations, autoattack_eot=args.autoattack_eot, limits=limits,
        sanity_size=sanity_size,
    )


def test_data(args: argparse.Namespace, model: nn.Module, plan: EvaluationPlan) -> ImageDataset:
    """The test split the plan runs on, on the chosen device."""
    from ..evaluate.inputs import evaluation_data

    return evaluation_data(model, plan.dataset, args.data_dir, args.limit).to(device_from(args.device))


def run_dir(args: argparse.Namespace, model: nn.Module) -> Path:
    """``OUT/<model label>-<weights digest>``: where a model's batch logs go."""
    from ..evaluate.inputs import file_label, model_label
    from ..evaluate.runner import model_digest

    return args.out / f"{file_label(model_label(model))}-{model_digest(model)[:8]}"


def earlier_rows(out: Path, meta: dict, labels: set[str], stem: str = "whitebox") -> dict:
    """The rows an earlier ``evaluate`` (``transfer``: ``stem="transfer"``) wrote to ``out/STEM.json`` for other
    models, kept in the new table (a model evaluated again replaces its row); refused, before any work, if that
    table used other settings (another plan, or another oracle)."""
    path = out / f"{stem}.json"
    empty = {"rows": [], "notes": [], "checkpoints": []}
    if not path.is_file():
        return empty
    table = json.loads(path.read_text())
    earlier = {k: table.get(k) for k in meta} | {"attacks": list(table.get("attacks", {}))}
    if earlier != meta:
        diff = ", ".join(f"{k} {earlier[k]} vs {meta[k]}" for k in meta if earlier[k] != meta[k])
        raise ConfigError(f"{path} holds a table made with other settings ({diff}); choose another --out, "
                          f"or delete {path} to start a new table")
    from ..evaluate import Row

    rows = [Row.from_dict(r) for r in table["rows"] if r["model"] not in labels]
    return {"rows": rows, "notes": table.get("notes", []),
            "checkpoints": [c for c in table.get("checkpoints", table.get("targets", [])) if rows]}


def write_with_earlier(out: Path, stem: str, kept: dict, results: list, attacks: list[str], meta: dict) -> str:
    """``out/STEM.{json,md}``: the rows :func:`earlier_rows` kept, then the new ``results``' rows, with the notes of
    both (each once, in order); returns the Markdown table."""
    from ..evaluate import write_tables

    notes = list(dict.fromkeys([*kept["notes"], *(note for result in results for note in result.notes)]))
    rows = kept["rows"] + [r.row() for r in results]
    return write_tables(out, stem, rows, attacks, notes, meta)[2]


def run(args: argparse.Namespace) -> int:
    check_before_work(args, [*args.checkpoints, *([args.surrogate] if args.surrogate else [])])
    if args.integrate and len(args.checkpoints) < 2:
        raise ConfigError("--integrate needs at least two checkpoints")
    start_work(args)
    from ..checkpoint import load_model
    from ..evaluate import natural_model_check, run_plan
    from ..evaluate.inputs import check_compatible, model_label
    from ..locking import run_lock
    from ..models import integrate_models

    device = device_from(args.device)
    models = [load_model(p, device) for p in args.checkpoints]
    if args.integrate:
        models.append(integrate_models(models))
    plan = plan_from(args, models[0], args.sanity_limit)
    surrogate = load_model(args.surrogate, device) if args.surrogate else None
    data = test_data(args, models[0], plan)
    for model in [*models, *([surrogate] if surrogate is not None else [])]:
        check_compatible(model, data)  # checked before any work, not after the evaluation
    with run_lock(args.out, purpose="evaluate"):
        if args.natural_check:
            checks = [natural_model_check(m, data, plan.settings, plan.sanity_settings()) for m in models]
            for model, check in zip(models, checks):
                print(f"{model_label(model)}: [{check.flag}] {check.name}: {check.explanation}; {check.numbers}")
            return 1 if any(c.passed is False for c in checks) else 0
        meta = plan.as_dict()
        kept = earlier_rows(args.out, meta, {model_label(m) for m in models})
        results = []
        for model in models:
            say(args, f"evaluating {model_label(model)} on {len(data)} images: clean, {', '.join(plan.attacks)}")
            results.append(run_plan(plan, model, data, surrogate=surrogate, out_dir=run_dir(args, model),
                                    progress=not args.quiet))
        meta = {**meta, "checkpoints": kept["checkpoints"] + [str(p) for p in args.checkpoints],
                "integrate": args.integrate}
        text = write_with_earlier(args.out, "whitebox", kept, results, list(plan.attacks), meta)
    print(text)
    say(args, f"wrote {args.out / 'whitebox.json'} and {args.out / 'whitebox.md'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="natural and white-box robust accuracy (paper Table 2) with sanity checks",
        description="Evaluate checkpoints under white-box attacks (paper Sec. 3.2, Table 2). Interrupted runs "
        "resume from the per-batch logs under --out. See docs/evaluation.md.",
    )
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="checkpoint files (RUN_DIR/best)")
    add_shared_arguments(p)
    p.add_argument("--integrate", action="store_true",
                   help="also evaluate the integration (average of logits) of the checkpoints (Sec. 4.2)")
    p.add_argument("--surrogate", default=None, metavar="CKPT",
                   help="surrogate for the transfer sanity check (default: the model with noise off, if noisy)")
    p.add_argument("--sanity-limit", type=integer(0), default=None,
                   help="images for the sanity checks (default: as many as cost no more than the attacks, at most "
                   "200, enough for every check to be conclusive on a noisy model; fewer read 'too few images'; "
                   "0 skips them)")
    p.add_argument("--natural-check", action="store_true",
                   help="only run the paper's Sec. 4.4 check on NATURALLY trained checkpoints: IFGSM^20 must "
                   "leave ~0 accuracy; exit 1 if flagged")
    p.set_defaults(func=run)
