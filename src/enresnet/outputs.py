"""Checks of output paths given on the command line, made before any work.

A command that runs for minutes and then cannot write its result loses that
work: these checks run first and raise :class:`~enresnet.errors.ConfigError`
naming the flag and the fix.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError


def _check_creatable(path: Path, shown: Path, flag: str) -> None:
    """The nearest existing ancestor of ``path`` (itself included) must be a directory."""
    while not path.exists() and path != path.parent:
        path = path.parent
    if not path.is_dir():
        raise ConfigError(f"{flag} {shown} cannot be created: {path} is a file; choose another {flag}")


def check_output_dir(path: str | Path, flag: str = "--out") -> Path:
    """``path`` is, or can be created as, a directory."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a directory; choose another {flag}")
    _check_creatable(path, path, flag)
    return path


def check_output_file(path: str | Path, flag: str = "--out", suffix: str | None = None) -> Path:
    """``path`` names a file (not a directory), ending in ``suffix`` if given, in a folder that can be created."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a directory; give a file path such as {path / ('out' + (suffix or ''))}")
    if suffix is not None and path.suffix != suffix:
        raise ConfigError(f"{flag} {path} must end in {suffix}")
    _check_creatable(path.parent, path, flag)
    return path
