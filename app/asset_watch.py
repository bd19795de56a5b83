"""A watchdog for collection workers: an asset that takes longer than its timeout (a pathological mesh, an importer
that loops in C, where no Python signal reaches) is stopped, recorded failed, and its block goes on.

The renderer is a child process (``cli.py worker --asset-child`` or ``cli.py collection-worker``) that writes a
*beat* file, the index in its block of the asset it starts, before each asset's first step. The watchdog, the
parent, reads it: the same beat for longer than the timeout ends the child's process group; the asset is recorded
failed with that reason (where the job keeps its records: ``stopped``), and a new child takes the block up after
it (done and failed assets are skipped). A child that dies of a signal (Blender crashing on a model, the kernel's
out-of-memory killer) fails the asset it was on the same way, so a model that crashes Blender fails alone instead of
crashing every retry. A child that exits 1 or 2 (the job's storage failed, a full disk) ends the block with that
code: nothing of the asset's is at fault, and the shard's retry renders it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .asset_hooks import AssetHooks
from .processes import die_with_parent

POLL_S = 0.2


def timeout_reason(seconds: int) -> str:
    return f"stopped after --asset-timeout {seconds} s (it took longer)"


class Watched:
    """One block's renderer under its watchdog. ``poll()`` is None while it runs, then the block's exit code.
    ``command`` is the child's command line, or a function of the block index it starts from."""

    def __init__(self, command, beat: Path, timeout: float, block: list, stopped: Callable,
                 log: Path | None = None, finished_codes: tuple[int, ...] = (0,)):  # fmt: skip
        self.command, self.beat, self.timeout, self.block = command, Path(beat), timeout, block
        self.after = 0
        """Where the next child starts in the block: after the asset stopped last."""
        self.stopped, self.log, self.finished_codes = stopped, log, finished_codes
        self.process: subprocess.Popen | None = None
        self.seen: str | None = None
        self.since = 0.0
        self.code: int | None = None
        self.failed_here = 0

    def start(self) -> Watched:
        self.beat.unlink(missing_ok=True)
        self.seen, self.since = None, time.monotonic()
        out = open(self.log, "ab") if self.log else None  # noqa: SIM115 - the child owns it
        try:
            command = self.command(self.after) if callable(self.command) else self.command
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT if out else None,
                                            start_new_session=True, preexec_fn=die_with_parent)  # fmt: skip
        finally:
            if out:
                out.close()
        return self

    def poll(self) -> int | None:
        if self.code is not None:
            return self.code
        rc = self.process.poll()
        beat = self._beat()
        if beat != self.seen:
            self.seen, self.since = beat, time.monotonic()
        if rc is None:
            if self.seen is not None and time.monotonic() - self.since > self.timeout:
                self._stop()
                self._fail(self.seen, timeout_reason(int(self.timeout)))
                self.start()
            return None
        if rc in self.finished_codes or rc in (1, 2) or self.seen is None:
            self.code = rc if rc not in self.finished_codes else 0
            return self.code
        how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
        self._fail(self.seen, f"Blender stopped while rendering it ({how})")
        self.start()
        return None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self._stop()

    def _beat(self) -> str | None:
        try:
            text = self.beat.read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if text.isdigit() and int(text) < len(self.block) else None

    def _stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()

    def _fail(self, beat: str, reason: str) -> None:
        self.failed_here += 1
        self.after = int(beat) + 1
        self.stopped(self.block[int(beat)], reason)


def write_beat(path: Path, index: int) -> None:
    """The child's side: the asset it starts now (atomically, so the watchdog never reads half a number)."""
    from ..core.files import write_text_atomic

    write_text_atomic(Path(path), f"{index}\n")


class Beat(AssetHooks):
    """A watched child's hooks: the beat before each asset."""

    def __init__(self, path: Path):
        self.path = path

    def starting(self, index: int, asset) -> None:
        write_beat(self.path, index)


def wait_all(watched: list[Watched], poll_s: float = POLL_S, between=None) -> list[int]:
    """Each block's exit code once every one has ended; ``between()`` runs at each poll (progress)."""
    try:
        while True:
            codes = [w.poll() for w in watched]
            if between is not None:
                between()
            if all(c is not None for c in codes):
                return codes
            time.sleep(poll_s)
    except BaseException:
        for w in watched:
            w.kill()
        raise
