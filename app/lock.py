"""One run per output folder: an advisory lock on ``OUT/.nerf_dataset/lock``.

``flock`` is what pip, Cargo and Git LFS use for the same reason: the kernel releases it when its holder
exits or is killed, so a crashed run never leaves a stale lock behind. A run that renders or writes takes it
exclusively; hand-started ``--shard`` runs of one planned dataset take it shared, so they run side by side but
never beside a full run, an ``--overwrite`` or a ``--collect``. The workers of ``--workers`` run under their
parent's lock. The holder writes who it is into the file, so the refusal can name it. On systems without
``fcntl`` (Windows) there is no lock.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import time
from pathlib import Path

from ..core.errors import UserError
from ..core.layout import FINALISE_LOCK, LOCK_FILE

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


_HELD: set[Path] = set()
"""The lock files this process holds (``held_by_another_run`` must not take its own lock for a stranger's)."""


class OutputLock:
    """The lock of an output folder: a dataset's (``.nerf_dataset/lock``) or a collection's (``lock``:
    ``.nerf_collection/lock``)."""

    def __init__(self, out_dir: Path, shared: bool = False, lock: str = LOCK_FILE) -> None:
        self.folder, self.path, self.shared = Path(out_dir), Path(out_dir) / lock, shared
        self._fd: int | None = None
        self._named = False

    def acquire(self) -> OutputLock:
        if fcntl is None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)  # a link could aim it anywhere
        except OSError as exc:
            why = "its lock is a link" if exc.errno == errno.ELOOP else f"it is not writable ({exc.strerror})"
            raise UserError(f"--out {self.folder} cannot be used: {why}") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another run"
            os.close(fd)
            raise UserError(
                f"--out {self.folder} is in use by {holder}; wait for it to end, or choose another --out"
            ) from None
        if not self.shared:
            who = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')} ({_command()})"
            os.ftruncate(fd, 0)
            os.pwrite(fd, who.encode(), 0)
            self._named = True
        self._fd = fd
        _HELD.add(self.path.resolve())
        return self

    def share(self) -> None:
        """Let hand-started shards of the dataset this run just planned work beside it."""
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            self.shared = True

    def release(self) -> None:
        if self._fd is not None:
            if self._named:  # an empty file again: datasets stay byte-identical however they were made
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None
            _HELD.discard(self.path.resolve())


def held_by_another_run(out_dir: Path, lock: str = LOCK_FILE) -> bool:
    """Whether another process holds the folder's lock exclusively: a run that renders or writes there is alive
    (the kernel drops a lock with its holder, where a pid may be a zombie's or reused). Without ``fcntl``
    there is no telling: True."""
    path = Path(out_dir) / lock
    if fcntl is None:
        return True
    if path.resolve() in _HELD:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # unreadable or a link: not ours to judge, so not to be taken for dead either
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's own shared lock, if it got one


def _command() -> str:
    args = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    text = " ".join(["cli.py", *args]) if args else "Blender"
    return text if len(text) <= 200 else text[:197] + "..."


@contextlib.contextmanager
def one_at_a_time(path: Path):
    """Runs that share a folder's lock take turns here (a blocking lock of its own beside the shared one)."""
    if fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def finalising(out_dir: Path):
    """Hand-started shards that finish together finalise one after the other: both would write every format,
    with the same scratch names."""
    return one_at_a_time(Path(out_dir) / FINALISE_LOCK)
