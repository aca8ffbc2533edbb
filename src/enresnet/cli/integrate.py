"""``enresnet integrate CKPT [CKPT ...] --out CKPT``: average separately trained models (Sec. 4.2)."""

from __future__ import annotations

import argparse

from ..checkpoint import load_model, save_model
from ..errors import CheckpointError
from ..models import integrate_models
from ..outputs import check_output_file


def run(args: argparse.Namespace) -> int:
    if len(args.checkpoints) < 2:
        raise CheckpointError("integrate needs at least two checkpoints")
    check_output_file(args.out)
    models = [load_model(path) for path in args.checkpoints]
    datasets = {m.checkpoint_meta.get("dataset", {}).get("name") for m in models}
    if len(datasets) > 1:
        raise CheckpointError(f"the checkpoints were trained on different datasets: {sorted(map(str, datasets))}")
    merged = integrate_models(models)
    meta = {"dataset": models[0].checkpoint_meta.get("dataset"), "integrated_from": list(args.checkpoints)}
    path = save_model(args.out, merged, **meta)
    print(f"wrote {path}: the average of {len(models)} models")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("integrate", help="one model averaging separately trained models (Sec. 4.2)")
    p.add_argument("checkpoints", nargs="+", metavar="CKPT")
    p.add_argument("--out", required=True, help="checkpoint file to write (.safetensors is added if missing)")
    p.set_defaults(func=run)
