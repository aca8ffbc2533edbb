"""The configs shipped with the package (package data): one TOML file per experiment.

A config's *name* is its path below this folder without ``.toml``, e.g.
``cifar10/table2/en5_resnet20`` or ``quickstart``; ``enresnet config list`` lists
them, ``enresnet config show NAME`` prints one. Training configs are read by
``enresnet train``; the ``cifar10/table7/*`` files hold an ``[integrate]`` table
(the members of a Table 7 row) and are read by ``enresnet reproduce cifar10-table7``.

Torch-free, so that ``enresnet config`` starts at once.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent
"""Where the shipped configs lie (inside the installed package)."""

INTEGRATION_FOLDERS = ("cifar10/table7",)
"""Folders of ``[integrate]`` files (read by ``enresnet reproduce``), not training configs."""


def config_names() -> list[str]:
    """Names of every shipped config, sorted."""
    return sorted(p.relative_to(CONFIG_DIR).with_suffix("").as_posix() for p in CONFIG_DIR.rglob("*.toml"))


def config_path(name: str) -> Path:
    """The file of a shipped config. ``name`` may carry a ``configs/`` prefix and a ``.toml`` suffix (the
    form of the paths in ``[integrate]`` tables and in the studies)."""
    key = name.removeprefix("configs/").removesuffix(".toml")
    path = CONFIG_DIR / f"{key}.toml"
    if not path.is_file() or ".." in Path(key).parts:
        names = config_names()
        if not names:
            raise ConfigError(f"no configs are shipped in {CONFIG_DIR}: the package is incomplete, reinstall it")
        raise ConfigError(f"no shipped config {name!r}; `enresnet config list` lists the {len(names)} there are")
    return path


def is_integration(name: str) -> bool:
    """Whether a shipped config is an ``[integrate]`` file rather than a training config."""
    return any(name.startswith(folder + "/") for folder in INTEGRATION_FOLDERS)
