"""``enresnet evaluate``: natural and white-box robust accuracy (paper Table 2), with sanity checks.

Also holds the options and steps it shares with ``enresnet transfer``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_model
from ..config import pixel_value
from ..data import ImageDataset
from ..device import native_bf16, resolve_device
from ..errors import ConfigError
from ..evaluate import (
    AttackSettings,
    Row,
    RunSettings,
    SanitySettings,
    default_budget,
    evaluate_model,
    natural_model_check,
    parse_attacks,
    write_tables,
)
from ..evaluate.api import DEFAULT_SANITY_SIZE
from ..evaluate.inputs import check_compatible, evaluation_data, file_label, model_label
from ..evaluate.protocol import ATTACK_FORMS
from ..evaluate.runner import model_digest
from ..locking import run_lock
from ..models import integrate_models
from ..outputs import check_output_dir


def add_shared_arguments(p: argparse.ArgumentParser) -> None:
    """Options of both ``evaluate`` and ``transfer``."""
    p.add_argument("--attacks", default="fgsm,ifgsm20,cw",
                   help=f"comma-separated; valid: {', '.join(ATTACK_FORMS)} (default: the paper's fgsm,ifgsm20,cw)")
    p.add_argument("--eot", type=int, default=5, help="EOT noise draws per attack gradient (paper: 5)")
    p.add_argument("--eot-batch", type=int, default=None,
                   help="at most this many EOT replicas per forward pass (default: all at once)")
    p.add_argument("--repeats", type=int, default=5,
                   help="stochastic predictions per image: mean ± std and worst case (default 5)")
    p.add_argument("--check-draws", type=int, default=10,
                   help="noise draws to decide whether an example fools a noisy model (AutoAttack re-check)")
    p.add_argument("--dataset", default=None, help="override the checkpoint's dataset")
    p.add_argument("--data-dir", default=None, help="override the checkpoint's data directory")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N test images only")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--eps", type=pixel_value, default=None,
                   help="l_inf budget in pixel units, e.g. 8/255 or 0.1 (default: the checkpoint's training eps, "
                   "else 8/255; Fashion-MNIST 0.1)")
    p.add_argument("--alpha", type=pixel_value, default=None,
                   help="IFGSM step in pixel units, e.g. 2/255 (default: the checkpoint's training step when eps "
                   "is too, else 2/255 scaled with eps; Fashion-MNIST 0.01)")
    p.add_argument("--out", type=Path, default=Path("evaluation"),
                   help="output directory: per-batch logs (resumable) and the tables (default: evaluation)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amp", choices=("auto", "bf16", "none"), default="auto",
                   help="attack gradients from bf16 forward passes (predictions always fp32): auto = where bf16 is "
                   "fast (CUDA, CPUs with AVX512-BF16/AMX); none = the paper's fp32")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def device_from(name: str) -> torch.device:
    return resolve_device(name, "--device")


def prepare(args: argparse.Namespace, model: nn.Module) -> tuple[list[str], ImageDataset, AttackSettings,
                                                                 RunSettings, list[str], str]:
    """Attacks, test data, settings, the table notes and where eps/alpha came from, from the options and
    ``model``'s checkpoint."""
    attacks = parse_attacks(args.attacks)
    for name, value in (("--eot", args.eot), ("--repeats", args.repeats), ("--batch-size", args.batch_size),
                        ("--check-draws", args.check_draws)):
        if value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")
    if args.eot_batch is not None and args.eot_batch < 1:
        raise ConfigError(f"--eot-batch must be >= 1 (noise draws per forward pass), got {args.eot_batch}")
    data = evaluation_data(model, args.dataset, args.data_dir, args.limit).to(device_from(args.device))
    eps, alpha, budget = training_budget(model, data.name, args.eps, args.alpha)
    bf16 = native_bf16(data.images.device) if args.amp == "auto" else args.amp == "bf16"
    attack = AttackSettings(eps=eps, alpha=alpha, eot=args.eot, eot_batch=args.eot_batch, bf16=bf16,
                            check_draws=args.check_draws)
    run = RunSettings(batch_size=args.batch_size, repeats=args.repeats, seed=args.seed)
    notes = [
        f"{len(data)} {data.name} test images; {budget}.",
        f"Attack gradients of noisy models averaged over {args.eot} noise draws (EOT).",
        f"Each image predicted {args.repeats} times: mean ± std over the draws (worst: right in all draws).",
    ]
    return attacks, data, attack, run, notes, budget


def training_budget(model: nn.Module, dataset: str, eps: float | None, alpha: float | None) -> tuple[float, float, str]:
    """(eps, alpha, note): the given values, else the eps and step the checkpoint was trained with on this
    dataset, else the dataset's default (:func:`default_budget`)."""
    recorded = getattr(model, "checkpoint_meta", {}).get("dataset") or {}
    if eps is None and recorded.get("name") == dataset and recorded.get("eps"):
        eps = recorded["eps"]
        alpha = recorded.get("alpha") if alpha is None else alpha
        eps, alpha, _ = default_budget(dataset, eps, alpha)
        return eps, alpha, f"eps = {eps:.4g}, alpha = {alpha:.4g} (the checkpoint's training budget)"
    return default_budget(dataset, eps, alpha)


def run_dir(args: argparse.Namespace, model: nn.Module) -> Path:
    """``OUT/<model label>-<weights digest>``: where a model's batch logs go."""
    return args.out / f"{file_label(model_label(model))}-{model_digest(model)[:8]}"


safe_name = file_label  # the name ``enresnet transfer`` imports

def earlier_rows(out: Path, meta: dict, labels: set[str]) -> dict:
    """The rows an earlier ``evaluate`` wrote to ``out/whitebox.json`` for other models, kept in the new
    table (a model evaluated again replaces its row); refused if that table used other settings."""
    path = out / "whitebox.json"
    empty = {"rows": [], "notes": [], "checkpoints": []}
    if not path.is_file():
        return empty
    table = json.loads(path.read_text())
    earlier = {"attacks": list(table.get("attacks", {}))}
    earlier |= {k: table.get(k) for k in ("eps", "alpha", "eot", "repeats", "bf16")}
    if earlier != meta:
        diff = ", ".join(f"{k} {earlier[k]} vs {meta[k]}" for k in meta if earlier[k] != meta[k])
        raise ConfigError(f"{path} holds a table made with other settings ({diff}); choose another --out, "
                          f"or delete {path} to start a new table")
    rows = [Row.from_dict(r) for r in table["rows"] if r["model"] not in labels]
    return {"rows": rows, "notes": table.get("notes", []),
            "checkpoints": [c for c in table.get("checkpoints", []) if rows]}


def run(args: argparse.Namespace) -> int:
    check_output_dir(args.out)
    if not 0 <= args.seed < 2**63:
        raise ConfigError(f"--seed must be in [0, 2^63), got {args.seed}")
    device = device_from(args.device)
    models = [load_model(p, device) for p in args.checkpoints]
    if args.integrate:
        if len(models) < 2:
            raise ConfigError("--integrate needs at least two checkpoints")
        models.append(integrate_models(models))
    attacks, data, attack, settings, _, budget = prepare(args, models[0])
    for model in models:
        check_compatible(model, data)
    surrogate = load_model(args.surrogate, device) if args.surrogate else None
    if surrogate is not None:  # checked before any work, not after the evaluation
        check_compatible(surrogate, data)
    with run_lock(args.out, purpose="evaluate"):
        meta = {"attacks": attacks, "eps": attack.eps, "alpha": attack.alpha, "eot": attack.eot,
                "repeats": settings.repeats, "bf16": attack.bf16}
        kept = earlier_rows(args.out, meta, {model_label(m) for m in models})
        if args.natural_check:
            sanity_settings = SanitySettings(seed=args.seed, batch_size=args.batch_size, repeats=args.repeats)
            checks = [natural_model_check(m, data, attack, sanity_settings) for m in models]
            for model, check in zip(models, checks):
                print(f"{model_label(model)}: [{check.flag}] {check.name}: {check.explanation}; {check.numbers}")
            return 1 if any(c.passed is False for c in checks) else 0
        results = []
        for model in models:
            print(f"evaluating {model_label(model)} on {len(data)} images: clean, {', '.join(attacks)}",
                  file=sys.stderr)
            results.append(evaluate_model(
                model, data.images, data.labels, attacks, eps=attack.eps, alpha=attack.alpha, eot=attack.eot,
                eot_batch=attack.eot_batch, repeats=settings.repeats, check_draws=attack.check_draws,
                batch_size=settings.batch_size, seed=settings.seed, sanity_size=args.sanity_limit,
                surrogate=surrogate, dataset=data.name, out_dir=run_dir(args, model), progress=not args.quiet,
                budget_note=budget, bf16=attack.bf16,
            ))
        notes = list(dict.fromkeys([*kept["notes"], *(note for result in results for note in result.notes)]))
        meta = {**meta, "checkpoints": kept["checkpoints"] + [str(p) for p in args.checkpoints],
                "integrate": args.integrate}
        rows = kept["rows"] + [r.row() for r in results]
        json_path, md_path, text = write_tables(args.out, "whitebox", rows, attacks, notes, meta)
    print(text)
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
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
    p.add_argument("--sanity-limit", type=int, default=DEFAULT_SANITY_SIZE,
                   help=f"images for the sanity checks (default {DEFAULT_SANITY_SIZE}: enough for every check to be "
                   "conclusive on a noisy model; fewer read 'too few images'; 0 skips them)")
    p.add_argument("--natural-check", action="store_true",
                   help="only run the paper's Sec. 4.4 check on NATURALLY trained checkpoints: IFGSM^20 must "
                   "leave ~0 accuracy; exit 1 if flagged")
    p.set_defaults(func=run)
