"""How every operator turns a refusal into one error report: the same exceptions the CLI prints as one line,
with settings named by their panel labels instead of their flags."""

from __future__ import annotations

import functools

from ...app.dataset import IncompleteError
from ...core.errors import UserError
from ...core.settings import SettingError, label_of


def message(exc: Exception) -> str:
    if isinstance(exc, SettingError):
        text = exc.worded(label_of)
        return text[:1].upper() + text[1:]
    from ...cloud.s3 import StorageError

    if isinstance(exc, OSError) and not isinstance(exc, StorageError):  # the disk said no: full, read-only...
        return f"Stopped, the dataset can be resumed: {exc}"
    return str(exc)


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
