"""File writes that never leave a half-written file under its final name."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write under a temporary name unique to this process, then rename: readers and concurrent
    writers (two shards finalising at once) only ever see a whole file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None  # a failed write() names no file
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode())


def write_json_atomic(path: Path, obj) -> Path:
    # allow_nan=False: NaN and Infinity are not JSON; strict parsers reject them, so writing one is a bug.
    return write_text_atomic(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (the same bytes, no extra space), or copy where links are impossible.

    Atomic: ``dst`` is replaced in one rename, so two finalising processes cannot trip over each other.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and os.path.samefile(src, dst):
        return
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a killed run of the same pid may have left it
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)
    # rename() between two links to one file is a no-op that leaves the source name (POSIX); drop it.
    if tmp.exists():
        tmp.unlink()


def last_line(path: Path, tail: int = 8192) -> str:
    """The last non-empty line of a log, read from its end only (logs of long renders are large)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - tail))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def sha256_of(path: Path) -> str:
    """The file's sha256, read a MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
