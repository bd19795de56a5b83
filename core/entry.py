"""How any program starts this add-on's ``cli.py``: a Blender executable runs it as a background script, a Python
with the bpy module runs it as itself. Written once for the workers, the engines and the stream's instances."""

from __future__ import annotations

from pathlib import Path

CLI = Path(__file__).resolve().parents[1] / "cli.py"


def cli_command(program: str, ours: list[str], blender: bool) -> list[str]:
    """``program`` running ``cli.py OURS``: ``blender -b --factory-startup -P cli.py -- OURS`` or ``python cli.py
    OURS``."""
    if blender:
        return [program, "-b", "--factory-startup", "-P", str(CLI), "--", *ours]
    return [program, str(CLI), *ours]
