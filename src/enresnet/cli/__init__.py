"""The ``enresnet`` command. Each subcommand lives in its own module of this
package and exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.

User errors (:class:`~enresnet.errors.EnresnetError`) are printed as one
``error: ...`` line, without a traceback, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import EnresnetError


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="enresnet",
        description="Noise-injected ResNet ensembles (EnResNets): train, attack, evaluate, and the PDE behind them.",
    )
    parser.add_argument("--version", action="version", version=f"enresnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EnresnetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is saved, run the same command again to continue", file=sys.stderr)
        return 130
