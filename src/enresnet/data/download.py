"""Fetch a file from a URL (http(s):// or file://) or a local path, verify its MD5.

Every write is atomic (temporary file + rename), so an interrupted download
never leaves a half file that later passes for a whole one; a failed download
leaves no folder it created. A full disk is a :class:`~enresnet.errors.DiskFullError`
naming the folder and the file's size.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from ..atomic import disk_full_as_error
from ..errors import DiskFullError
from .dataset import DatasetError


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_md5(path: Path, expected: str | None) -> None:
    """Raise :class:`DatasetError` when ``path``'s MD5 is not ``expected`` (None: skip)."""
    if expected is None:
        return
    actual = md5sum(path)
    if actual != expected:
        raise DatasetError(
            f"checksum mismatch for {path}: MD5 is {actual}, expected {expected}. "
            f"The file is corrupted or not the official one: delete it and download it again."
        )


def fetch(url: str, dest: Path, md5: str | None) -> Path:
    """Make ``dest`` a verified copy of ``url``; reuse a verified existing file.

    ``url`` may be http(s)://, file:// or a plain local path. On failure the
    error names the file to place by hand.
    """
    dest = Path(dest)
    if dest.exists():
        verify_md5(dest, md5)
        return dest
    created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]  # innermost first
    with disk_full_as_error(dest.parent, None, dest.name):
        dest.parent.mkdir(parents=True, exist_ok=True)
    source = url if "://" in url else Path(url).resolve().as_uri()
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.part")
    try:
        with urllib.request.urlopen(source, timeout=60) as response:
            length = response.headers.get("Content-Length", "")
            with disk_full_as_error(dest.parent, int(length) if length.isdigit() else None, dest.name):
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask's permissions
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(response, out)
        verify_md5(tmp, md5)
        os.replace(tmp, dest)
    except DiskFullError:
        raise
    except (urllib.error.URLError, OSError) as err:
        raise DatasetError(
            f"could not download {url} ({err}). Without internet, place the file {dest.name} "
            f"in {dest.parent} (pass that folder as --data-dir) and run again."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
        for folder in created if not dest.exists() else []:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return dest
