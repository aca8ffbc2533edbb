"""Atomic file writes: a file is either its old content or its new content, never half.

Data goes to a temporary file ``.NAME.<pid>-<host>-<boot>-<random>.tmp`` beside
the target (the writer's pid, and markers of its host name and of the machine's
boot), is fsynced and renamed over the target; the folder is then fsynced too,
so that the rename survives a power cut (a filesystem that refuses to fsync a
folder is tolerated). The temporary file is created with mode 0666 less the
umask, so outputs get the permissions the user's umask asks for.

A full disk (ENOSPC) or an exceeded quota (EDQUOT) is one
:class:`~enresnet.errors.DiskFullError` naming the folder and about how many
bytes the write needed; the temporary file is removed and the previous file is
intact (:func:`disk_full_as_error` does this for any write).

A process killed mid-write leaves its temporary file behind:
:func:`remove_stale_temporaries` deletes those of one folder whose writer is
gone (call it only while holding the folder's lock, :mod:`enresnet.locking`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DiskFullError

DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
"""The errnos of a write refused for want of space or quota."""

_FOLDER_FSYNC_REFUSED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EACCES,
                                   errno.EPERM, errno.EISDIR})
"""What filesystems that cannot fsync a folder answer (the file itself was fsynced before the rename)."""


def _marker(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


HOST = _marker(socket.gethostname())
"""This host (or container: its own pid namespace and host name) in temporary names."""
BOOT = _marker(_boot_id())
"""This boot of the machine in temporary names: a writer of an earlier boot is gone."""

_TEMPORARY = re.compile(r"^\..+\.(?P<pid>[1-9]\d{0,9})-(?P<host>[0-9a-f]{8})-(?P<boot>[0-9a-f]{8})-[0-9a-f]{16}\.tmp$")
"""Names of our temporary files, with their writer."""
_OLD_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8,}\.tmp$")
"""Names of the temporary files of older versions (``.NAME.<hex>.tmp``, :func:`tempfile.mkstemp`'s), no writer."""


def _size(n: int) -> str:
    """``1234567`` -> ``1.2 MB``."""
    power = min(len(str(n)) - 1, 12) // 3
    return f"{n} B" if power == 0 else f"{n / 1000**power:.1f} {('kB', 'MB', 'GB', 'TB')[power - 1]}"


def _free_bytes(folder: Path) -> int | None:
    """Bytes free to an unprivileged writer in ``folder``'s filesystem (its nearest existing ancestor's)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def disk_full_error(folder: Path, needed: int | None, what: str, code: int = errno.ENOSPC) -> DiskFullError:
    """The error of a write of ``needed`` bytes (None: unknown) of ``what`` into ``folder`` refused with ``code``."""
    reason = "disk quota exceeded" if code == errno.EDQUOT else "no space left on device"
    free = _free_bytes(folder)
    need = f"about {_size(needed)}" if needed is not None else "more space"
    have = f" ({_size(free)} free)" if free is not None else ""
    err = DiskFullError(f"{folder}: {reason}: writing {what} needs {need}{have}; free some space there or choose "
                        f"another folder")
    err.errno = code  # no filename or strerror: str(err) stays the message
    return err


@contextmanager
def disk_full_as_error(folder: str | Path, needed: int | None, what: str) -> Iterator[None]:
    """Turn an ENOSPC/EDQUOT raised in the block into :func:`disk_full_error` (other errors pass)."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as err:
        if err.errno not in DISK_FULL:
            raise
        raise disk_full_error(Path(folder), needed, what, err.errno) from None


def temporary_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` naming this process as its writer."""
    return path.with_name(f".{path.name}.{os.getpid()}-{HOST}-{BOOT}-{secrets.token_hex(8)}.tmp")


def fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable; a filesystem that refuses is tolerated."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as err:
        if err.errno in _FOLDER_FSYNC_REFUSED:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in _FOLDER_FSYNC_REFUSED:
            raise
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync, rename and fsync the folder."""
    path = Path(path)
    with disk_full_as_error(path.parent, len(data), path.name):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    fsync_folder(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode())


def _writer_gone(pid: int, host: str, boot: str) -> bool:
    """Whether the writer of a temporary file is gone: of this host, and of an earlier boot or no longer running
    (a writer on another host, or a pid this process cannot signal, may be alive)."""
    if host != HOST:
        return False
    if boot != BOOT:
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return True
    except PermissionError:  # alive: another user's process
        pass
    return False


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files that writers now gone left in ``folder`` (not in its sub-folders, which have
    their own locks); returns them. Files of older versions name no writer: those in ``folder`` are deleted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = []
    for path in folder.iterdir():
        match = _TEMPORARY.match(path.name)
        if match is not None:
            gone = _writer_gone(int(match["pid"]), match["host"], match["boot"])
        else:
            gone = _OLD_TEMPORARY.match(path.name) is not None
        if gone and path.is_file():
            path.unlink(missing_ok=True)
            stale.append(path)
    return stale
