"""The ``enresnet`` command. Each subcommand lives in its own module of this
package and exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.

Subcommands are imported lazily: :data:`COMMANDS` names each one's module and
one-line help, so ``enresnet --help`` lists them without importing any (nor
torch), and ``enresnet NAME ...`` imports only ``NAME``'s module. A command's
optional dependencies (scipy for ``pde``) are needed only when it runs.

Every subcommand has a description, help on every argument and ``--quiet``; a command that computes
takes ``--threads`` and sets torch's thread count once, when its work starts (:mod:`enresnet.threads`),
after the checks that need no data (which import no torch, so that a refusal comes at once).

User errors (:class:`~enresnet.errors.EnresnetError`) are printed as one
``error: ...`` line, without a traceback, and exit with status 2. A full disk
(ENOSPC, EDQUOT: :class:`~enresnet.errors.DiskFullError`, or the OSError of a
write not made through :mod:`enresnet.atomic`) is such an error too, followed by
what the command kept and how to continue (as after Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, Union

from ..atomic import DISK_FULL, disk_full_error
from ..errors import DiskFullError, EnresnetError


class Command(NamedTuple):
    module: str
    """Module of this package holding ``register``."""
    help: str
    """The one-line help of ``enresnet --help`` (the same as the module's parser; tested)."""
    on_interrupt: Union[str, Callable[[argparse.Namespace], str]]
    """What is kept and what to do after Ctrl-C or a full disk stopped the command (or a function of the parsed
    arguments saying it)."""


def _train_interrupted(args: argparse.Namespace) -> str:
    """Advice after Ctrl-C in ``train``: --resume once a checkpoint exists, else start again."""
    from ..train.run_dir import RunDir  # the layout of a run directory; only after an interrupted train

    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem  # train's default --out
    if not RunDir(out).last.exists():
        return "no checkpoint was written yet: run the same command again to start the run"
    if args.resume:
        return "the last checkpoint is kept: run the same command again to continue"
    return "the last checkpoint is kept: run the same command with --resume added to continue"


_RERUN = "run the same command again to continue"
_NOTHING = "nothing was written"

COMMANDS: dict[str, Command] = {
    "config": Command("config_cmd", "list the shipped configs, print one, or print the defaults", _NOTHING),
    "evaluate": Command("evaluate", "natural and white-box robust accuracy (paper Table 2) with sanity checks",
                        f"finished batches are logged under --out: {_RERUN}"),
    "integrate": Command("integrate", "one model averaging separately trained models (Sec. 4.2)", _NOTHING),
    "models": Command("models", "list model names and parameter counts", _NOTHING),
    "pde": Command("pde", "solve the convection-diffusion equation of Fig. 4 and check Feynman-Kac against it",
                   "figures already written are kept"),
    "plot": Command("plot", "draw the paper's figures (Fig. 5, Fig. 6, accuracy against eps)",
                    "figures already written are kept"),
    "reproduce": Command("reproduce", "run a named study end to end: train, evaluate, tables, figures, results.md",
                         f"finished models and evaluation batches are kept: {_RERUN}"),
    "train": Command("train", "train a model from a TOML config (natural, PGD-AT, TRADES)", _train_interrupted),
    "transfer": Command("transfer", "blind attacks: adversarial images of an oracle model classified by a target "
                        "(Tables 3, 6)", f"finished batches are logged under --out: {_RERUN}"),
}


def _command_name(argv: list[str]) -> str | None:
    """The subcommand named in ``argv``: the first word that is not an option (the top-level parser
    has only flags without values: --help, --version)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``enresnet``; only the subcommand named in ``argv`` is imported and complete, the
    others are placeholders carrying their help (``argv=None``: every subcommand is imported)."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="enresnet",
        description="Noise-injected ResNet ensembles (EnResNets): train, attack, evaluate, and the PDE behind them.",
    )
    parser.add_argument("--version", action="version", version=f"enresnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _command_name(argv) if argv is not None else None
    for name, command in COMMANDS.items():
        if argv is None or name == chosen:
            importlib.import_module(f"{__name__}.{command.module}").register(sub)
        else:
            sub.add_parser(name, help=command.help, add_help=False)
    return parser


@contextlib.contextmanager
def _torch_threads_kept() -> Iterator[None]:
    """A command sets torch's thread count for its own work (:mod:`enresnet.threads`); a caller that had imported
    torch before calling :func:`main` (a test, a notebook) gets its own count back."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if before is not None:
            torch.set_num_threads(before)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)

    def kept() -> str:
        advice = COMMANDS[args.command].on_interrupt
        return advice if isinstance(advice, str) else advice(args)

    try:
        with _torch_threads_kept():
            return int(args.func(args) or 0)
    except DiskFullError as err:
        print(f"error: {err}; {kept()}", file=sys.stderr)
        return 2
    except EnresnetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; {kept()}", file=sys.stderr)
        return 130
    except OSError as err:
        if err.errno not in DISK_FULL:
            raise
        folder = Path(err.filename).parent if err.filename else Path(getattr(args, "out", None) or ".")
        print(f"error: {disk_full_error(folder, None, 'the output', err.errno)}; {kept()}", file=sys.stderr)
        return 2
