"""Options every subcommand shares, and argparse types that refuse a bad value before any work.

Torch-free: a command's module imports torch only when its work starts, so that a mistyped value
(``--limit -5``) is refused in a fraction of a second, by argparse, with the usage line.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from ..config import pixel_value
from ..data import dataset_name
from ..errors import EnresnetError
from ..threads import ENV, MAX_THREADS


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (no upper bound when ``high`` is None)."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    return parse


def comma_separated(convert: Callable[[str], object]) -> Callable[[str], list]:
    """An argparse type for ``a,b,c`` lists of ``convert``-ed items."""

    def parse(text: str) -> list:
        try:
            return [convert(item) for item in text.split(",") if item.strip()]
        except (ValueError, EnresnetError):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from None

    return parse


MAX_SEEDS = 1000


def seed_list(text: str) -> tuple[int, ...]:
    """An argparse type: seeds as ``0-4`` (a range, both ends included), ``0,2,7`` or a mix (``0-2,9``), each in
    [0, 2**63), no seed twice, at most :data:`MAX_SEEDS`."""
    seed = integer(0, 2**63 - 1)
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        low, dash, high = part.partition("-")
        if not part or (dash and not (low and high)):
            raise argparse.ArgumentTypeError(f"expected seeds like 0-4 or 0,2,7, got {text!r}")
        first, last = seed(low), seed(high) if dash else seed(low)
        if last < first:
            raise argparse.ArgumentTypeError(f"the range {part!r} runs backwards; write {last}-{first}")
        if len(seeds) + last - first + 1 > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} seeds, got {text!r}")
        seeds += range(first, last + 1)
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"a seed appears twice in {text!r}")
    return tuple(seeds)


def budget(text: str) -> float:
    """An argparse type: an eps or alpha in (0, 1], pixel units, as a number or a fraction (``8/255``)."""
    try:
        value = pixel_value(text)
    except EnresnetError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not (math.isfinite(value) and 0 < value <= 1):
        raise argparse.ArgumentTypeError(f"must be in (0, 1] (pixel units, e.g. 8/255 or 0.1), got {text!r}")
    return value


def dataset(text: str) -> str:
    """An argparse type: a dataset name or alias (``fmnist``), as its canonical name."""
    try:
        return dataset_name(text)
    except EnresnetError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


class Deferred:
    """Help text made only when the help is shown: an argument's help says ``%(name)s`` and its action carries
    ``name = Deferred(...)``. For text whose source imports torch (the attack names), which a refusal of a bad
    value must not wait for."""

    def __init__(self, text: Callable[[], str]) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text()


def attack_forms() -> str:
    """The valid attack names, as ``--attacks`` takes them (imports torch: for :class:`Deferred`)."""
    from ..evaluate.protocol import ATTACK_FORMS

    return ", ".join(ATTACK_FORMS)


def add_quiet(p: argparse.ArgumentParser, what: str = "no progress bars and no 'wrote ...' lines",
              nested: bool = False) -> None:
    """``--quiet``, in every command; ``what`` says what it silences there. ``nested``: the parser of a
    sub-command (``plot training``) whose parent takes ``--quiet`` too, which it must not reset when absent."""
    p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS if nested else False, help=what)


def add_threads(p: argparse.ArgumentParser) -> None:
    """``--threads``, in every command that computes (the policy: :mod:`enresnet.threads`)."""
    p.add_argument("--threads", type=integer(1, MAX_THREADS), default=None,
                   help=f"torch threads (default: ${ENV}, else the cores other processes leave free, at most "
                   "torch's own count; OMP_NUM_THREADS, when set, is kept); see docs/training.md#threads")
