"""``enresnet integrate CKPT [CKPT ...] --out CKPT``: average separately trained models (Sec. 4.2)."""

from __future__ import annotations

import argparse

from ..checkpoint_file import check_checkpoint_file
from ..errors import CheckpointError
from ..outputs import check_output_file
from .options import add_quiet


def run(args: argparse.Namespace) -> int:
    if len(args.checkpoints) < 2:
        raise CheckpointError("integrate needs at least two checkpoints")
    check_output_file(args.out)
    for path in args.checkpoints:
        check_checkpoint_file(path)
    from ..checkpoint import load_model, save_model
    from ..models import integrate_models

    models = [load_model(path) for path in args.checkpoints]
    datasets = {m.checkpoint_meta.get("dataset", {}).get("name") for m in models}
    if len(datasets) > 1:
        raise CheckpointError(f"the checkpoints were trained on different datasets: {sorted(map(str, datasets))}")
    merged = integrate_models(models)
    meta = {"dataset": models[0].checkpoint_meta.get("dataset"), "integrated_from": list(args.checkpoints)}
    path = save_model(args.out, merged, **meta)
    if not args.quiet:
        print(f"wrote {path}: the average of {len(models)} models")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "integrate",
        help="one model averaging separately trained models (Sec. 4.2)",
        description="Integrate separately trained models (paper Sec. 4.2, Table 7): one checkpoint whose logits "
        "are the average of theirs (the members were trained apart, each with the memory of one model). The "
        "checkpoints must be of one dataset. Evaluate the result as any checkpoint (`enresnet evaluate OUT`).",
    )
    p.add_argument("checkpoints", nargs="+", metavar="CKPT",
                   help="two or more checkpoints to average (RUN_DIR/best or .safetensors files)")
    p.add_argument("--out", required=True, help="checkpoint file to write (.safetensors is added if missing)")
    add_quiet(p, "no 'wrote ...' line")
    p.set_defaults(func=run)
