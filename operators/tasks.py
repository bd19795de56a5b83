"""Work off Blender's main thread: an upload, a submission, a status query or a download runs in a thread
while Blender stays responsive. Nothing here touches ``bpy``: the thread gets plain values, and what must
happen on the main thread afterwards (``then``) is run by ``operators.following``' timer, or by its ``wait``."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable

from ..app.dataset import IncompleteError
from ..core.errors import UserError
from .reports import one_sentence


class Task:
    """``work(progress)`` returns one line for the user; a refusal becomes one sentence in ``error``.
    ``cleanup()`` runs in the thread whatever happened (release a lock, remove a staging folder);
    ``then(task)`` runs on the main thread once it ended."""

    def __init__(self, doing: str, work: Callable, cleanup: Callable | None = None, then: Callable | None = None):
        self.doing, self.work, self.cleanup, self.then = doing, work, cleanup, then
        self.result: str | None = None
        self.error: str | None = None
        self.counts: tuple[int, int] = (0, 0)
        self.value = None
        """What ``work`` returned, unworded (a ``JobStatus``)."""
        self.started = time.monotonic()
        self.ended_at: float | None = None
        self.handled = False
        """``then`` has run (on the main thread)."""
        self.thread = threading.Thread(target=self._run, name="nerf_dataset-task", daemon=True)

    def start(self) -> Task:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.value = self.work(self._progress)
            self.result = self.value if isinstance(self.value, str) else None
        except Exception as exc:  # one sentence for the panel, whatever went wrong
            if not _expected(exc):
                traceback.print_exc()  # a bug: the console has the details, the user one line
            self.error = one_sentence(exc)
        finally:
            try:
                if self.cleanup is not None:
                    self.cleanup()
            finally:
                self.ended_at = time.monotonic()

    def _progress(self, done: int, total: int, _elapsed: float = 0.0) -> None:
        self.counts = (done, total)

    @property
    def running(self) -> bool:
        return self.ended_at is None

    def wait(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def text(self) -> str:
        """What it is doing, for the status bar and the panel."""
        done, total = self.counts
        return f"{self.doing} ({done}/{total})" if total else f"{self.doing}…"


def _expected(exc: Exception) -> bool:
    return isinstance(exc, (UserError, IncompleteError, OSError))
