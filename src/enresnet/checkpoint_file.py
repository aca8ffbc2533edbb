"""The file a checkpoint path names, checked without torch (so that a command refuses a wrong path at once).

``RUN_DIR/best`` means ``RUN_DIR/best.safetensors`` (:func:`checkpoint_path`). A path that names no
checkpoint is refused by :func:`check_checkpoint_file` with what it is instead: a folder (and the
checkpoints in it), an empty file, JSON (a run's ``config.json``), JSON lines (``metrics.jsonl``),
TOML (a config), other text, a zip archive or pickle (``torch.save``), gzip, or other bytes. A
file that starts like a safetensors file (an 8-byte header length, then ``{``) is left to the
safetensors reader (:mod:`enresnet.checkpoint`), whose errors say what is corrupted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import CheckpointError

SUFFIX = ".safetensors"
SNIFF_BYTES = 1 << 20
"""A file up to this size is parsed whole (JSON, TOML) to say what it is; a larger one is judged by its start."""
_OTHER_FORMATS = (
    (b"PK\x03\x04", "a zip archive (torch.save writes these: read it with torch.load, then model.load_state_dict)"),
    (b"\x80", "a Python pickle (torch.save's older format: read it with torch.load, then model.load_state_dict)"),
    (b"\x1f\x8b", "a gzip file"),
)


def checkpoint_path(path: str | Path) -> Path:
    """``run/best`` -> ``run/best.safetensors`` when only the latter exists."""
    path = Path(path)
    if path.suffix != SUFFIX and not path.is_file():
        return path.with_name(path.name + SUFFIX)
    return path


def looks_like_safetensors(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts as a safetensors file: a little-endian 64-bit header
    length below 4 GiB (text never starts so), then the header's ``{``."""
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 2**32


def describe_text(text: str) -> str:
    """What a text file is: JSON, JSON lines, TOML or plain text."""
    if not text.strip():
        return "a file of blank text"
    for parse, kind in ((json.loads, "a JSON file (such as a run's config.json)"),
                        (tomllib.loads, "a TOML file (such as a training config)")):
        try:
            parse(text)
            return kind
        except ValueError:  # json.JSONDecodeError and tomllib.TOMLDecodeError are ValueErrors
            pass
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        if lines and all(isinstance(json.loads(line), dict) for line in lines):
            return "JSON lines (such as a run's metrics.jsonl)"
    except ValueError:
        pass
    return "a text file"


def describe_file(path: Path) -> str | None:
    """What ``path`` (an existing file) is when it is not a safetensors file, else None."""
    size = path.stat().st_size
    if size == 0:
        return "an empty file"
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if looks_like_safetensors(head):
        return None
    for magic, kind in _OTHER_FORMATS:
        if head.startswith(magic):
            return kind
    whole = size <= SNIFF_BYTES
    try:  # a longer file's start may end inside a character
        text = (head if whole else head[:-3]).decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        return f"{size} bytes of binary data, not in the safetensors format"
    return describe_text(text) if whole else "a text file"


def check_checkpoint_file(path: str | Path) -> Path:
    """The checkpoint file ``path`` names (:func:`checkpoint_path`); a :class:`CheckpointError` saying what it
    is instead when it is missing, a folder, or not a safetensors file."""
    given = Path(path)
    path = checkpoint_path(given)
    if given.is_dir() and not path.is_file():
        inside = sorted(p.name for p in given.glob(f"*{SUFFIX}"))
        hint = (f"pass a checkpoint in it, e.g. {given / Path(inside[0]).stem}" if inside
                else f"it holds no checkpoint (*{SUFFIX})")
        raise CheckpointError(f"{given} is a folder, not a checkpoint; {hint}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass a RUN_DIR/best or RUN_DIR/last path")
    try:
        kind = describe_file(path)
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path} ({err.strerror})") from None
    if kind is not None:
        raise CheckpointError(f"{path} is not a checkpoint: it is {kind}; pass a checkpoint written by enresnet, "
                              f"e.g. RUN_DIR/best (the file RUN_DIR/best{SUFFIX})")
    return path
