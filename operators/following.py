"""The jobs the panel follows, kept fresh off the main thread.

A timer (``bpy.app.timers``, persistent across file loads) asks each scene's job (once followed: see
``FOLLOWED``) for its status every few seconds, in a thread (``cloud.actions.job_status``, as ``cli.py
status``); the answer is cached by the job's location and the 3D view's sidebar redrawn. The same timer ends
the actions the job operators started (submit, retry, download, cancel): it runs their main-thread part and
keeps the status bar saying what runs. ``blender -b`` fires no timers: the operators then ``wait`` for their
thread instead.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

import bpy

from ..core.errors import UserError
from .tasks import Task

TICK_S = 0.25
POLL_S = 5.0
"""How often a job still running is asked for its status."""
ERROR_POLL_S = 30.0
"""How often after a failed query (no network, no credentials): the panel shows the sentence meanwhile."""


@dataclass
class Fetched:
    status: object = None
    """The latest ``cloud.status.JobStatus``; kept while a later query fails."""
    error: str | None = None
    at: float = 0.0
    """``time.monotonic()`` of the latest answer."""

    @property
    def settled(self) -> bool:
        """Nothing will change by itself: every view is done, or the engine said of every task that it neither
        runs nor waits (an emitted job's engine is not ours to ask: its tasks say "not submitted")."""
        st = self.status
        if st is None:
            return False
        return st.done == st.total or all(s.state != "not submitted" and not s.busy for s in st.shards)


STATUS: dict[str, Fetched] = {}
"""The latest status of each job, by location (``s3://BUCKET/PREFIX`` or the job folder)."""
ACTIONS: dict[str, Task] = {}
"""The running, or last ended, action on each job (retry, download, cancel), by location."""
SUBMISSIONS: dict[int, Task] = {}
"""Each scene's running, or last failed, submission, by ``scene.session_uid``."""
FOLLOWED: set[tuple] = set()
"""Jobs the timer asks by itself: submitted, refreshed or acted on in this session. A job named by a .blend
just opened waits for Refresh: a file from elsewhere could name any endpoint, and every request carries a
signature made with the user's credentials. Held as ``identity``: a job is its location *and* how it is
reached, so a scene naming the same location with another endpoint is not asked on another's behalf."""


def identity(place) -> tuple:
    """A job as the timer may ask it: where it is and the endpoint, region and profile that reach it."""
    reach = place.reach
    return (str(place), *((reach.endpoint_url, reach.region, reach.profile) if reach is not None else ()))


def job_of_or_none(props):
    from .scene_values import job_of

    try:
        return job_of(props)
    except UserError:
        return None


def followed(props) -> bool:
    found = job_of_or_none(props)
    return found is not None and identity(found) in FOLLOWED


_ASKING: dict[str, Task] = {}
_shown: str | None = None
"""What the status bar says now (None: ours is not shown)."""


def check_online(place) -> None:
    """Blender's "Allow Online Access" preference binds add-ons; ``blender -b`` scripts are the user's own."""
    if place.online and not bpy.app.background and not bpy.app.online_access:
        raise UserError(f"{place} is online and Blender's online access is off "
                        "(Preferences > System > Network > Allow Online Access)")  # fmt: skip


def ask_status(place) -> Task:
    """Ask for the job's status now, in a thread (or join the query already running)."""
    from ..cloud.actions import job_status

    key = str(place)
    FOLLOWED.add(identity(place))
    running = _ASKING.get(key)
    if running is not None and running.running:
        return running

    def then(task: Task) -> None:
        old = STATUS.get(key)
        if task.error is None:
            STATUS[key] = Fetched(task.value, None, time.monotonic())
        else:
            STATUS[key] = Fetched(old.status if old else None, task.error, time.monotonic())

    _ASKING[key] = task = Task(f"Asking {place} for its status", lambda _p: job_status(place), then=then)
    return task.start()


def act(place, task: Task) -> Task:
    """Start an action on the job; one at a time per job. Its status is asked again once it ends."""
    key = str(place)
    if busy(key):
        raise UserError(f"{ACTIONS[key].text()} still runs; wait for it to end")
    then = task.then

    def refresh_after(t: Task) -> None:
        if then is not None:
            then(t)
        STATUS.setdefault(key, Fetched()).at = 0.0  # due again at the next tick

    task.then = refresh_after
    ACTIONS[key] = task
    FOLLOWED.add(identity(place))
    return task.start()


def submit(scene, task: Task) -> Task:
    """Start a scene's submission (the caller checked that none runs: ``submitting``)."""
    SUBMISSIONS[scene.session_uid] = task
    return task.start()


def busy(key: str) -> bool:
    task = ACTIONS.get(key)
    return task is not None and task.running


def submitting(scene) -> Task | None:
    return SUBMISSIONS.get(scene.session_uid)


def scene_by_uid(uid: int):
    return next((s for s in bpy.data.scenes if s.session_uid == uid), None)


def _tasks() -> list[Task]:
    return [*SUBMISSIONS.values(), *ACTIONS.values(), *_ASKING.values()]


def complete_ended() -> bool:
    """Run the main-thread part of every task that ended; True when any did."""
    changed = False
    for task in _tasks():
        if not task.running and not task.handled:
            task.handled, changed = True, True
            if task.then is not None:
                try:
                    task.then(task)
                except ReferenceError:  # its scene went with a file load
                    pass
    for uid in [u for u, t in SUBMISSIONS.items() if t.handled and t.error is None]:
        del SUBMISSIONS[uid]  # a submitted job shows as the scene's job from now on
    return changed


def wait(task: Task | None = None, timeout: float | None = None) -> None:
    """Wait for ``task`` (default: every running one) and run its main-thread part: the synchronous path of
    ``blender -b``, where no timer fires, and of the tests."""
    for t in [task] if task is not None else _tasks():
        t.wait(timeout)
    complete_ended()


def _due(key: str, ident: tuple) -> bool:
    if ident not in FOLLOWED:
        return False
    running = _ASKING.get(key)
    if running is not None and running.running:
        return False
    fetched = STATUS.get(key)
    if fetched is None or fetched.at == 0.0:
        return True
    if fetched.settled:
        return False  # Refresh asks again
    return time.monotonic() - fetched.at >= (ERROR_POLL_S if fetched.error else POLL_S)


def _poll() -> None:
    from .reports import message
    from .scene_values import job_of

    for scene in bpy.data.scenes:
        props = getattr(scene, "nerf_dataset", None)
        if props is None or not props.job_location:
            continue
        try:
            place = job_of(props)
            if not _due(props.job_location, identity(place)):
                continue
            check_online(place)
        except UserError as exc:
            STATUS[props.job_location] = Fetched(None, message(exc), time.monotonic())
            continue
        ask_status(place)


def _status_bar() -> None:
    """The status bar says what runs (the first running action), and is cleared when nothing does."""
    global _shown
    running = [t for t in (*SUBMISSIONS.values(), *ACTIONS.values()) if t.running]
    text = running[0].text() if running else None
    if text == _shown:
        return
    for window in bpy.context.window_manager.windows:
        with bpy.context.temp_override(window=window):
            if bpy.context.workspace is not None:
                bpy.context.workspace.status_text_set(text)
    _shown = text


def redraw() -> None:
    """The 3D views' sidebars (where the panel is), not the viewports themselves."""
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                for region in area.regions:
                    if region.type == "UI":
                        region.tag_redraw()


def _tick() -> float:
    try:
        changed = complete_ended()
        _poll()
        _status_bar()
        if changed or any(t.running for t in (*SUBMISSIONS.values(), *ACTIONS.values())):
            redraw()
    except Exception:  # a timer that raises is never called again: keep the panel alive, say why in the console
        traceback.print_exc()
    return TICK_S


@bpy.app.handlers.persistent
def _forget_session(*_args) -> None:
    """Another file: what this session followed and fetched is not that file's (its jobs wait for Refresh).
    A submission still under way is said in the console, since its scene is going."""
    for task in SUBMISSIONS.values():
        if task.running:
            print(f"nerf_dataset: {task.text()} goes on while another file opens; its job is not remembered in a "
                  "scene: follow it with cli.py status --job LOCATION")  # fmt: skip
    FOLLOWED.clear()
    STATUS.clear()
    ACTIONS.clear()


def register():
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=TICK_S, persistent=True)
    if _forget_session not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(_forget_session)


def unregister():
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    if _forget_session in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_forget_session)
    _status_bar_clear()


def _status_bar_clear() -> None:
    global _shown
    if _shown is not None:
        for window in bpy.context.window_manager.windows:
            with bpy.context.temp_override(window=window):
                if bpy.context.workspace is not None:
                    bpy.context.workspace.status_text_set(None)
        _shown = None
