"""The entry floor: ``cli.py``'s parsers and its command dispatch, above ``app/`` and ``cloud/``.

The command line ends here. Each command reads its flags into the typed values of the option families
(``core.options``) and calls the application's function for that action (``app``, ``cloud.actions``), the
same one the panel's operators call; nothing below this floor parses or builds a command line.
"""

from __future__ import annotations

import sys

from ..blender_io.presence import leave_no_failed_driver
from . import collection, jobs, render, stream, validate
from .parsing import script_args

COMMANDS = {"validate": validate.main, "stream": stream.main, "collection-worker": collection.main, **jobs.COMMANDS}
"""Every command but the default one (render a dataset)."""


def main(argv: list[str] | None = None) -> int:
    """``blender -b -P cli.py -- OPTIONS`` and ``python cli.py OPTIONS``: our options are after ``--``."""
    try:
        ours = script_args(sys.argv if argv is None else argv)
        command = COMMANDS.get(ours[0]) if ours else None
        return command(ours[1:]) if command else render.main(ours)
    finally:
        leave_no_failed_driver()
