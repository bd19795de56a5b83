"""Reading files anyone may have made: ``validate`` treats every file of a dataset as hostile.

Only regular files are opened: ``open`` on a FIFO named ``transforms.json`` blocks forever and
``/dev/zero`` never ends. The type is checked before opening, and again on the open descriptor, which is
opened non-blocking so that a FIFO swapped in between the two cannot block either. Text is read up to a
cap and checked against it before a byte is read; binaries are walked within their size by their readers.
A file is read only when its path, links resolved, lies inside the folder being checked. Nothing here
raises anything but ``Unreadable`` for a bad file, so a reader needs one ``except``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

MAX_TEXT_BYTES = 64 * 2**20
"""JSON and COLMAP text: ours are a few MiB at 10 000 views; more is not a dataset's metadata."""

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
# O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (POSIX; Windows has no FIFOs).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class Unreadable(Exception):
    """Why a file was not read; the message completes "<path> ..." (e.g. "is a FIFO, not a regular file")."""


def present(path) -> bool:
    """Anything by that name (a file, a FIFO, a dangling link): what makes a folder claim a format."""
    try:
        os.lstat(path)
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return False
    return True


def is_dir(path) -> bool:
    """``Path.is_dir`` without its exceptions (it raises for names too long or folders we may not enter)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def inside(folder, path) -> bool:
    """Whether ``path``, ``..`` and links resolved, lies in ``folder`` (resolved too)."""
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))
    except (OSError, ValueError, RuntimeError):  # RuntimeError: a link loop (Python < 3.13)
        return False


def open_regular(path, folder=None) -> BinaryIO:
    """The file open for binary reading if it is a regular file (inside ``folder`` when given)."""
    if folder is not None and not inside(folder, path):
        raise Unreadable("resolves outside the dataset folder: not read")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise Unreadable("is a link to nothing" if present(path) else "is missing") from None
    except (OSError, ValueError) as exc:
        raise Unreadable(f"can't be read ({_reason(exc)})") from None
    if not stat.S_ISREG(mode):
        raise Unreadable(f"is {_kind(mode)}, not a regular file: not read")
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise Unreadable(f"can't be read ({_reason(exc)})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # replaced between the stat and the open
        os.close(fd)
        raise Unreadable(f"is {_kind(mode)}, not a regular file: not read")
    return os.fdopen(fd, "rb")


def size_of(f: BinaryIO) -> int:
    return os.fstat(f.fileno()).st_size


def read_bounded(path, folder=None, limit: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; a larger one is not read at all."""
    with open_regular(path, folder) as f:
        size = size_of(f)
        try:
            data = f.read(limit + 1) if size <= limit else b""
        except OSError as exc:
            raise Unreadable(f"can't be read ({_reason(exc)})") from None
    if size > limit or len(data) > limit:  # the second: it grew while we read
        found = _bytes(max(size, len(data)))
        raise Unreadable(f"is {found}, over the {_bytes(limit)} a metadata file may have: not read")
    return data


def _bytes(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)
