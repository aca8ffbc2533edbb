"""An exclusive lock on an output folder (a run or evaluation directory).

``with run_lock(folder, purpose="train"): ...`` holds ``folder/.enresnet.lock``,
a file recording the holder's pid, host, purpose, command line and start time,
locked with ``flock``. A second process asking for the same folder fails at once
with :class:`~enresnet.errors.LockedError` naming the holder. The kernel drops
the lock when its process dies, so a lock left by a killed process is stale and
taken over with no manual cleanup. The file is deleted on release. Re-entrant
within one process: a nested ``run_lock`` on a folder already held is a no-op.
A folder the lock created and nothing filled is removed on release. Taking the
lock also deletes the temporary files that killed writers left in the folder
itself, not in its sub-folders, which other processes may hold with their own
locks (:func:`enresnet.atomic.remove_stale_temporaries`). A full disk is a
:class:`~enresnet.errors.DiskFullError` at once, before any work.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .atomic import DISK_FULL, disk_full_as_error, disk_full_error, remove_stale_temporaries
from .errors import ConfigError, LockedError

LOCK_NAME = ".enresnet.lock"
_held: dict[Path, int] = {}
"""Folders this process holds, with how many nested ``run_lock`` calls hold each."""


def _holder(fd: int) -> str:
    """Who holds the lock, as the lock file tells it."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return (
            f"{info['purpose']} process {info['pid']} on {info['host']} (started {info['started']}: "
            f"{info['command']})"
        )
    except (ValueError, KeyError, TypeError, OSError):
        return "another enresnet process"


def _acquire(folder: Path, purpose: str) -> int:
    """Lock ``folder``; returns the locked file descriptor."""
    lock = folder / LOCK_NAME
    while True:
        with disk_full_as_error(folder, None, f"its lock file {LOCK_NAME}"):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LockedError(
                f"{folder} is in use by {holder}; wait for it to finish, stop it, or choose another --out"
            ) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder released (and deleted) the file between our open and flock
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "purpose": purpose,
        "command": " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    data = json.dumps(info).encode()
    try:
        with disk_full_as_error(folder, len(data), f"its lock file {LOCK_NAME}"):
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
    except BaseException:
        lock.unlink(missing_ok=True)
        os.close(fd)
        raise
    return fd


@contextmanager
def run_lock(folder: str | Path, purpose: str) -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created if needed) for the ``with`` block; yields the folder."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a directory; choose another --out")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if err.errno in DISK_FULL:
            raise disk_full_error(folder, None, "the folder", err.errno) from None
        raise ConfigError(f"cannot create {folder} ({err.strerror}); choose another --out") from None
    key = folder.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield folder
        finally:
            _held[key] -= 1
        return
    try:
        fd = _acquire(folder, purpose)
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    _held[key] = 1
    try:
        remove_stale_temporaries(folder)
        yield folder
    finally:
        del _held[key]
        (folder / LOCK_NAME).unlink(missing_ok=True)
        os.close(fd)
        if created and not any(folder.iterdir()):
            folder.rmdir()  # a run that failed before writing anything leaves no folder behind
