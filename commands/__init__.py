"""The entry floor: ``cli.py``'s parsers and its command dispatch, above ``app/`` and ``cloud/``.

The command line ends here. Each command reads its flags into the typed values of the option families
(``core.options``) and calls the application's function for that action (``app``, ``cloud.actions``), the
same one the panel's operators call; nothing below this floor parses or builds a command line.
"""

from __future__ import annotations

import importlib
import sys

from ..blender_io.presence import leave_no_failed_driver
from .parsing import script_args

COMMANDS = {
    "validate": "validate",
    "stream": "stream",
    "collection-worker": "collection",
    **dict.fromkeys(("submit", "worker", "status", "collect", "cancel"), "jobs"),
}
"""Every command but the default one (render a dataset), by the module that runs it: each is imported when it
runs, so a command starts without the others' imports."""


def command(name: str):
    """The function that runs command ``name`` (``main``, or its entry in the module's ``COMMANDS``)."""
    module = importlib.import_module(f"{__name__}.{COMMANDS.get(name, 'render')}")
    return getattr(module, "COMMANDS", {}).get(name, getattr(module, "main", None))


def main(argv: list[str] | None = None) -> int:
    """``blender -b -P cli.py -- OPTIONS`` and ``python cli.py OPTIONS``: our options are after ``--``."""
    try:
        ours = script_args(sys.argv if argv is None else argv)
        if ours and ours[0] in COMMANDS:
            return command(ours[0])(ours[1:])
        return command("")(ours)
    finally:
        leave_no_failed_driver()
