"""``enresnet models``: list model names with their parameter counts.

The counts come from the architecture (:func:`enresnet.model_names.parameter_count`),
without building the models or importing torch.
"""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from ..model_names import NAME_FORMS, UnknownModelError, list_models, parameter_count
from .options import add_quiet


def run(args: argparse.Namespace) -> int:
    if args.num_classes < 1 or args.in_channels < 1:
        raise ConfigError("--num-classes and --in-channels must be >= 1")
    for name in args.names or list_models():
        try:
            count = parameter_count(name, num_classes=args.num_classes, in_channels=args.in_channels)
        except UnknownModelError as err:
            raise ConfigError(str(err)) from None
        print(f"{name:32s} {count / 1e6:8.3f}M parameters")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list model names and parameter counts",
                       description=f"List model names and their parameter counts (computed, no model is built). "
                       f"Name forms: {NAME_FORMS}")
    p.add_argument("names", nargs="*", help="names to show (default: the canonical list)")
    p.add_argument("--num-classes", type=int, default=10, help="classes of the head (default 10)")
    p.add_argument("--in-channels", type=int, default=3, help="input image channels (default 3; Fashion-MNIST: 1)")
    add_quiet(p, "accepted for uniformity: the list is the result, there is no progress to silence")
    p.set_defaults(func=run)
