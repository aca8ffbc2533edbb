"""``enresnet models``: list model names with their parameter counts."""

from __future__ import annotations

import argparse

from ..models import NAME_FORMS, create_model, list_models


def run(args: argparse.Namespace) -> int:
    names = args.names or list_models()
    for name in names:
        model = create_model(name, num_classes=args.num_classes, in_channels=args.in_channels)
        count = sum(p.numel() for p in model.parameters())
        print(f"{name:32s} {count / 1e6:8.3f}M parameters")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list model names and parameter counts", description=f"Name forms: {NAME_FORMS}")
    p.add_argument("names", nargs="*", help="names to show (default: the canonical list)")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--in-channels", type=int, default=3)
    p.set_defaults(func=run)
