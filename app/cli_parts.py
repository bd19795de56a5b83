"""What every command of ``cli.py`` shares: exit codes, the one-line parser, the settings' options (derived
from ``core.settings``), the progress line, and the check that Blender is there."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..core.errors import UserError
from ..core.settings import (
    SETTING_FIELDS,
    SettingError,
    Settings,
    choice_ids,
    compound_flags,
    kind_of,
    meta_of,
    parse_pair,
    parse_text,
)

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

NO_BPY = (
    "this needs Blender, and this Python cannot import bpy: run it inside Blender, "
    "blender -b scene.blend -P cli.py -- [OPTIONS], or with the project's Python 3.11 venv, "
    ".venv/bin/python cli.py [OPTIONS] (make demo creates it)"
)


def require_blender() -> None:
    """A plain Python without bpy (``python3 cli.py``, the usual first try) gets how to run us, not a traceback.
    Only the commands that open a scene ask: ``validate`` of a folder and ``--collect`` need no Blender."""
    try:
        import bpy  # noqa: F401
    except ImportError:
        raise UserError(NO_BPY) from None


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block: the contract is "one clear line on stderr"
        raise UserError(message)


def _help(name: str, formats: dict) -> str:
    """The setting's help, its choices and its default, from its one description (``core.settings``)."""
    meta, default = meta_of(name), SETTING_FIELDS[name].default
    text = meta.help
    if kind_of(name) == "list" or meta.choices:
        text += ": " + ", ".join(map(str, choice_ids(name, formats)))
    if meta.none_means:
        text += f" (default: {meta.none_means})"
    elif default is not None and default is not False and default != ():
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text += f" (default: {shown})"
    return text


def add_settings(p: argparse.ArgumentParser, formats: dict) -> None:
    """One option per setting; list, size and compound values stay text here and are parsed with the
    settings' own words in ``settings_from_args``."""
    compounds = compound_flags()
    for name in SETTING_FIELDS:
        meta, kind = meta_of(name), kind_of(name)
        if meta.part is not None:
            if meta.part == 0:
                p.add_argument(meta.flag, dest=name, metavar=meta.metavar, help=_help(name, formats))
            continue
        if kind == "bool":
            p.add_argument(meta.flag, dest=name, action="store_true", help=_help(name, formats))
            continue
        convert = {"int": int, "float": float}.get(kind, str)
        p.add_argument(meta.flag, dest=name, type=convert, metavar=meta.metavar, help=_help(name, formats))
    assert all(len(names) == 2 for names in compounds.values())


def settings_from_args(a: argparse.Namespace) -> Settings:
    """The settings the options give, checked: a ``SettingError`` names the flag."""
    from ..exporters import FORMATS

    values = {}
    for name in SETTING_FIELDS:
        meta, raw = meta_of(name), getattr(a, name, None)
        if meta.part is not None:
            first = compound_flags()[meta.flag]
            pair = parse_pair(first[0], getattr(a, first[0])) if getattr(a, first[0]) is not None else None
            values[name] = None if pair is None else pair[meta.part]
        elif raw is None:
            values[name] = SETTING_FIELDS[name].default
        elif kind_of(name) in ("list", "size"):
            values[name] = parse_text(name, raw, FORMATS)
        elif kind_of(name) == "str" and not raw.strip():
            raise SettingError(name, "{} is empty; leave the option out instead")
        elif kind_of(name) == "str" and meta.choices:
            values[name] = next((c for c in choice_ids(name) if c.lower() == raw.lower()), raw)
        elif meta.panel == "file":  # saved in the plan: a resume from another folder must mean the same file
            values[name] = str(Path(raw).expanduser().absolute())
        else:
            values[name] = raw
    if values.get("cameras_from") and getattr(a, "rig", None) is None:
        values["rig"] = "dataset"  # the only rig it belongs to
    settings = Settings(**values)
    settings.validate(FORMATS)
    return settings


def script_args(argv: list[str]) -> list[str]:
    """Our options: everything after ``--`` (Blender's convention), else everything after the script."""
    return argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]


class Progress:
    """One updating line on a terminal; plain lines (at most one per 5 s) when stderr is a log file."""

    def __init__(self, stream=sys.stderr, what: str = "rendered {} views"):
        self.stream, self.tty, self.last, self.what = stream, stream.isatty(), 0.0, what

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else 0.0
        line = f"{self.what.format(f'{done}/{total}')}, {rate:.2f}/s, ETA {eta:.0f} s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done == total else ""))
        elif done == total or time.monotonic() - self.last >= 5.0:
            self.stream.write(line + "\n")
            self.last = time.monotonic()
        self.stream.flush()
