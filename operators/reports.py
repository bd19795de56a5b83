"""How every operator turns a refusal into one error report: the same exceptions the CLI prints as one line,
with settings named by their panel labels instead of their flags."""

from __future__ import annotations

import functools
import re

from ..app.dataset import IncompleteError
from ..cloud.s3 import StorageError
from ..core.errors import UserError
from ..core.options import FAMILIES, OptionError, fields_of, label_of, meta_of
from ..core.text import one_line


def message(exc: Exception) -> str:
    """The refusal as the panel says it: options named by their labels, never by their flags."""
    if isinstance(exc, OptionError):
        text = exc.worded(label_of)
        return text[:1].upper() + text[1:]
    if isinstance(exc, OSError) and not isinstance(exc, StorageError):  # the disk said no: full, read-only...
        return f"Stopped, the dataset can be resumed: {exc}"
    return panel_words(str(exc))


def panel_words(text: str) -> str:
    """A sentence from deeper down that quotes a flag (a damaged job's options) names its label instead."""
    labels = {meta_of(cls, n).flag: meta_of(cls, n).label for cls in FAMILIES for n in fields_of(cls)}
    return _FLAG.sub(lambda m: labels.get(m.group(0), m.group(0)), text)


_FLAG = re.compile(r"--[a-z][a-z-]*")


def one_sentence(exc: Exception) -> str:
    """What an action that ran in a thread ended with, for the panel and the status bar."""
    expected = isinstance(exc, UserError | IncompleteError | OSError)
    return panel_words(one_line(message(exc) if expected else f"{type(exc).__name__}: {exc}"))


def reports_errors(method):
    """Wrap ``execute`` or ``invoke``: a refusal is reported and the operator ends ``CANCELLED``. The wrapper
    keeps the method's arity, which Blender checks when it registers the class."""

    def guarded(self, call):
        try:
            return call()
        except (UserError, IncompleteError, OSError) as exc:
            self.report({"ERROR"}, message(exc))
            return {"CANCELLED"}

    if method.__code__.co_argcount == 3:

        def wrapper(self, context, event):
            return guarded(self, lambda: method(self, context, event))
    else:

        def wrapper(self, context):
            return guarded(self, lambda: method(self, context))

    return functools.wraps(method)(wrapper)
