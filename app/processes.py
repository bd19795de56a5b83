"""Processes of our own: how this process starts another ``cli.py``, how many workers fit, how they share the
cores, and that they die with their parent. Used by local workers and collections alike."""

from __future__ import annotations

import os
import signal
import sys

from ..blender_io.presence import blender_binary
from ..core.entry import cli_command

# A Blender process that opened a small scene and renders with Cycles peaks near 300 MB, EEVEE near 1.6 GB
# (research/blender-headless.md); 500 MB keeps a margin for Cycles' usual scenes.
WORKER_MB = 500


def this_cli_command(ours: list[str]) -> list[str]:
    """``cli.py OURS`` run the way this process runs: a background Blender running the script, or this Python."""
    binary = blender_binary()
    return cli_command(binary, ours, blender=True) if binary else cli_command(sys.executable, ours, blender=False)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Render threads for each of ``workers`` processes: the cores split evenly, at least one each."""
    return max(1, (cores or os.cpu_count() or 1) // workers)


def max_workers() -> int:
    """As many workers as this machine's memory holds (Linux: MemAvailable), and never absurdly many."""
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return 64
    return max(1, min(256, kb // 1024 // WORKER_MB))


def die_with_parent() -> None:
    """Linux: a worker gets SIGKILL when the parent dies, so a killed run leaves no orphan rendering on
    (``preexec_fn`` of each worker)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def pid_alive(pid) -> bool:
    """Whether a process of this number runs, under any user; anything that is no pid (a damaged record's
    text, 0, a number beyond any kernel's) is no process."""
    if type(pid) is not int or not 0 < pid < 1 << 22:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
