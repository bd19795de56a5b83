"""Keep Blender's own chatter off our stdout, where the CLI prints its results."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_stdout(enabled: bool = True):
    """Silence file descriptor 1 (Blender's C code writes there, bypassing sys.stdout): render tiles,
    "Read blend: ...", "OBJ import of ... took 1.68 ms"."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()  # Python's own prints made meanwhile (importer add-ons) go to devnull too
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
