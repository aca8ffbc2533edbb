"""``enresnet config``: the configs shipped with the package, and the defaults (see :data:`DESCRIPTION`)."""

from __future__ import annotations

import argparse

from ..configs import config_names, config_path, is_integration
from .options import add_quiet

DESCRIPTION = """\
The configs shipped with the package, one TOML file per experiment, named by their path without .toml
(e.g. quickstart, cifar10/table2/en5_resnet20, fmnist/en2_resnet20):

  enresnet config list            every name and its first comment line
  enresnet config show NAME       print one: enresnet config show quickstart > my.toml, edit, enresnet train my.toml
  enresnet config path NAME       its file: enresnet train "$(enresnet config path quickstart)" --out runs/quick
  enresnet config defaults        every section and key with its default (the paper's values)
"""


def _summary(name: str) -> str:
    comments = [line.lstrip("# ").strip() for line in config_path(name).read_text().splitlines()
                if line.startswith("#")]
    text = comments[0] if comments else ""
    if is_integration(name):
        text = f"[integrate] (read by `enresnet reproduce cifar10-table7`, not by train) {text}"
    return text if len(text) <= 100 else text[:97] + "..."


def run_list(args: argparse.Namespace) -> int:
    names = config_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:{width}s}  {_summary(name)}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(config_path(args.name).read_text(), end="")
    return 0


def run_path(args: argparse.Namespace) -> int:
    print(config_path(args.name))
    return 0


def run_defaults(args: argparse.Namespace) -> int:
    from ..config import to_toml, validate

    print("# enresnet train: every key and its default (the paper's, Sec. 3.3 and 4.1); a config sets only what "
          "differs")
    print(to_toml(validate({}, where="defaults")), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="list the shipped configs, print one, or print the defaults",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    quiet = "accepted for uniformity: the printed text is the result, there is no progress to silence"
    for name, help_text, func in (("list", "names of the shipped configs", run_list),
                                  ("show", "print a shipped config", run_show),
                                  ("path", "print the file of a shipped config", run_path),
                                  ("defaults", "every config key with its default", run_defaults)):
        action = actions.add_parser(name, help=help_text, description=f"enresnet config {name}: {help_text}.")
        if name in ("show", "path"):
            action.add_argument("name", metavar="NAME",
                                help="a shipped config's name (`enresnet config list`), e.g. quickstart, "
                                "cifar10/table2/en5_resnet20")
        add_quiet(action, quiet, nested=True)
        action.set_defaults(func=func)
    add_quiet(p, quiet)
