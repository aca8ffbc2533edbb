"""Atomic file writes: a file is either its old content or its new content, never half.

Data goes to a temporary file ``.NAME.<random>.tmp`` beside the target, is
fsynced and renamed over the target. The temporary file is created with mode
0666 less the umask, so outputs get the permissions the user's umask asks for.
A process killed mid-write leaves its temporary file behind:
:func:`remove_stale_temporaries` deletes them (call it only while holding the
folder's lock, :mod:`enresnet.locking`, so that no live writer's file is taken).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8,}\.tmp$")
"""Names of our temporary files (also those of older versions, made by :func:`tempfile.mkstemp`)."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode())


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files killed writers left in ``folder`` and below; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(".*.tmp") if _TEMPORARY.match(p.name) and p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
