"""The one way this add-on changes Blender state it does not own: record, change, and undo it all later.

The render job, the passes' compositor set-up and the scene readers (which step through frames) each
change the user's scene for a while; ``SceneState`` remembers every change and undoes them newest first,
on success, cancel and error alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable


class SceneState:
    def __init__(self) -> None:
        self._undo: list[tuple] = []

    def set(self, owner, attr: str, value) -> None:
        """``owner.attr = value``, remembering the old value (undone newest first, so a value set twice ends
        at its original)."""
        self._undo.append((owner, attr, getattr(owner, attr)))
        if getattr(owner, attr) != value:
            setattr(owner, attr, value)

    def keep(self, owner, *attrs: str) -> None:
        """Remember ``owner``'s current values, to be put back whatever changes them in between."""
        self._undo.extend((owner, attr, getattr(owner, attr)) for attr in attrs)

    def on_restore(self, undo: Callable[[], object]) -> None:
        """Run ``undo()`` at restore time, in order with the values set around it (a node to remove, a frame)."""
        self._undo.append((undo, None, None))

    def restore(self) -> None:
        """Undo everything, newest first; a value still equal to the saved one is not written again (writes
        can trigger Blender's update callbacks and re-syncs)."""
        while self._undo:
            owner, attr, value = self._undo.pop()
            if attr is None:
                owner()
            elif getattr(owner, attr) != value:
                setattr(owner, attr, value)


@contextlib.contextmanager
def restoring():
    """``with restoring() as state:`` changes made through ``state`` are undone when the block ends."""
    state = SceneState()
    try:
        yield state
    finally:
        state.restore()
