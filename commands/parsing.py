"""What every command of ``cli.py`` shares: exit codes, the one-line parser, each option family's flags (from its
one description, ``core.options``), the typed values they give, the progress line, and how a refusal or a
failure is said in one line.
"""

from __future__ import annotations

import argparse
import sys
import time

from ..core.errors import UserError
from ..core.options import (
    REQUIRED,
    OptionError,
    choice_ids,
    default_of,
    fields_of,
    flag_of,
    kind_of,
    meta_of,
    value_from_text,
)
from ..core.text import one_line

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block: the contract is "one clear line on stderr"
        raise UserError(message)


def script_args(argv: list[str]) -> list[str]:
    """Our options: everything after ``--`` (Blender's convention), else everything after the script."""
    return argv[argv.index("--") + 1 :] if "--" in argv else argv[1:]


def help_of(cls, name: str, dynamic: dict | None = None) -> str:
    """An option's help, its choices and its default, from its one description."""
    meta, default = meta_of(cls, name), default_of(cls, name)
    text = meta.help
    if kind_of(cls, name) == "list" and (meta.choices or dynamic) or meta.choices:
        text += ": " + ", ".join(map(str, choice_ids(cls, name, dynamic)))
    if meta.none_means:
        text += f" (default: {meta.none_means})"
    elif default is not REQUIRED and default not in (None, False, (), {}):
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text += f" (default: {shown})"
    return text.replace("%", "%%")  # argparse formats help with %


def add_family(p, cls, only=None, skip=(), dynamic: dict | None = None, required=None, also: str = "") -> None:
    """One flag per option of ``cls`` (``only`` these names, or all but ``skip``). Every value stays as typed
    (None when the flag is left out) until ``given`` reads it with the option's own words. A flag another
    family already added here (``--memory`` of two engines) is added once; ``also`` joins their helps."""
    taken = getattr(p, "_option_string_actions", None) or getattr(p, "_container", p)._option_string_actions
    for name in fields_of(cls):
        if (only is not None and name not in only) or name in skip:
            continue
        meta, kind = meta_of(cls, name), kind_of(cls, name)
        if meta.part is not None and meta.part != 0:
            continue  # a compound flag (--elevation MIN,MAX) is added with its first part
        if meta.flag in taken:
            continue
        kw: dict = {"dest": name, "default": None, "help": help_of(cls, name, dynamic) + also}
        if kind == "bool":
            kw["action"] = "store_true"
        else:
            kw["metavar"] = meta.metavar or None
            if meta.repeat:
                kw["action"] = "append"
            if meta.const is not None:
                kw.update(nargs="?", const=meta.const)
            if required if required is not None else default_of(cls, name) is REQUIRED and meta.part is None:
                kw["required"] = True
        p.add_argument(meta.flag, **kw)


def given(cls, a: argparse.Namespace, only=None, dynamic: dict | None = None) -> dict:
    """The typed values of the options of ``cls`` that ``a`` holds (those left out: absent), each read with its
    own words (``value_from_text``): an ``OptionError`` names the flag."""
    values = {}
    for name in fields_of(cls):
        if (only is not None and name not in only) or not hasattr(a, name):
            continue
        raw = getattr(a, name)
        if raw is None or (raw is False and kind_of(cls, name) == "bool"):
            continue
        values[name] = value_from_text(cls, name, raw, dynamic)
    return values


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


def say(line: str, stream=sys.stdout) -> None:
    """Print one line whatever the stream's encoding: a file name from anywhere must not crash the report."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(line.encode(encoding, "backslashreplace").decode(encoding), file=stream)


def refused(prog: str, exc: UserError, name_of=flag_of, limit: int | None = None) -> int:
    """Bad input: one line naming the option as the command line does, exit 2."""
    text = exc.worded(name_of) if isinstance(exc, OptionError) else str(exc)
    say(f"{prog}: error: {one_line(text, limit)}", sys.stderr)
    return EXIT_BAD_INPUT


def failed(prog: str, text: str) -> int:
    """Work that could not be done (views missing, a disk that said no): one line, exit 1."""
    say(f"{prog}: failed: {one_line(text)}", sys.stderr)
    return EXIT_FAILED
