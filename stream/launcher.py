"""``launch()``: start N headless Blender instances that render frames into this process, and stop them all.

Each instance is this add-on's ``cli.py stream`` (under the bpy module, or a Blender executable), started in
its own process group with the launch's secret and its spec (what to render, JSON) on its stdin: nothing on a
command line, where ``ps`` shows it. Leaving the ``with`` block, an exception, or Ctrl-C stops every instance;
an instance whose trainer died without a word sees its connection close and exits, so none is left behind.
"""

from __future__ import annotations

import atexit
import collections
import glob
import importlib.util
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..core.entry import cli_command
from ..core.errors import UserError
from ..core.settings import SETTING_FIELDS, Settings, check_setting, kind_of, setting_name
from . import wire
from .hub import Hub
from .wire import MAX_KEYPOINTS

VIEWS = ("rig", "random")
ON_LOST = ("raise", "continue", "restart")
MAX_INSTANCES = 64
MAX_RESTARTS = 3
OUTPUT_LINES = 40
# What the launch sets itself (its own arguments), so that settings may not: named as a user would write them.
RESERVED = {"connect", "instance", "instances", "generation", "first_seq", "views", "randomize", "keypoints", "out"}
RESERVED |= {"blend", "import", "import_path", "demo", "object", "workers", "shard", "resume", "overwrite"}
RESERVED |= {"collect", "import_dir", "import_list", "seed"}
_OPEN: set = set()


class InstanceLost(RuntimeError):
    """A Blender instance stopped before its views were all rendered (``on_lost="raise"``)."""


def launch(scene=None, num_instances: int = 1, **options) -> Launch:
    """Blender instances rendering ``scene`` for a ``RemoteIterableDataset``; use as ``with launch(...) as L``.

    scene: a .blend, a model file to import (.obj, .glb, ...), or None / "demo" for the built-in demo scene.
    settings: the dataset settings, as cli.py's options (``{"resolution": "64x64", "samples": 4}``, a list
      of arguments, or a ``core.settings.Settings``): rig, radius, lens, engine... as for a dataset.
    views: "rig" (the rig's views, shared out between the instances; the stream ends after the last) or
      "random" (an endless stream of views from random directions at the rig's distance).
    randomize: a top-level function ``f(ctx) -> dict`` or "script.py[:function]", run inside Blender before
      each frame with ``ctx.rng`` (seeded by seed, instance and frame number), ``ctx.scene``, ``ctx.object``,
      ``ctx.params`` (the latest ``L.send(...)``); what it returns is recorded with the frame.
    keypoints: names of objects (their origin) or "Object:vertex_index", projected with visibility.
    queue_size: frames an instance may render ahead of the consumers (back-pressure).
    on_lost: what a dead instance does to the stream: "raise" (consumers raise ``InstanceLost``),
      "continue" (the others go on), or "restart" (started again, from its next frame, up to 3 times).
    blender: the bpy Python or Blender executable (default: this Python when it has bpy, else ``blender``).
    """
    return Launch(scene, num_instances, **options)


class Launch:
    def __init__(
        self,
        scene=None,
        num_instances: int = 1,
        settings=None,
        randomize=None,
        seed: int = 0,
        views: str = "rig",
        keypoints=(),
        queue_size: int = 2,
        on_lost: str = "raise",
        blender=None,
        object: str | None = None,
        start_timeout: float = 300.0,
        host: str = "127.0.0.1",
    ):
        _whole("num_instances", num_instances, 1, MAX_INSTANCES)
        _whole("queue_size", queue_size, 1, 1024)
        _whole("seed", seed, 0, 2**31 - 1)
        if views not in VIEWS or on_lost not in ON_LOST:
            bad, choices = ("views", VIEWS) if views not in VIEWS else ("on_lost", ON_LOST)
            raise ValueError(f"{bad} must be one of {', '.join(choices)}, not {locals()[bad]!r}")
        if not (isinstance(start_timeout, int | float) and not isinstance(start_timeout, bool) and start_timeout > 0):
            raise ValueError(f"start_timeout must be a number of seconds above 0, not {start_timeout!r}")
        if not isinstance(host, str) or object is not None and not (isinstance(object, str) and object):
            raise ValueError("host and object must be text (an address, an object's name)")
        self.num_instances, self.seed, self.views, self.queue_size = num_instances, seed, views, queue_size
        self.on_lost, self.start_timeout, self.host = on_lost, start_timeout, host
        self.keypoints = _keypoints(keypoints)
        self.randomize = _randomize_spec(randomize)
        self.source = {**_source(scene), **({"object": object} if object else {})}
        self.settings = _settings_values(settings)
        self.command = _blender_command(blender)
        self.hub: Hub | None = None
        self.secret = b""
        self.address: tuple[str, int] | None = None
        self.streams: list = []
        self.procs: dict[int, tuple[subprocess.Popen, int]] = {}
        self.restarts = dict.fromkeys(range(num_instances), 0)
        self.output: dict[int, collections.deque] = {}
        self._readers: dict[int, threading.Thread] = {}
        self._every_proc: list[subprocess.Popen] = []
        """Every process started, restarted ones included: each one's scratch folder is checked at close."""
        """The last lines each instance printed (its errors), kept in memory: nothing is left on disk."""
        self._lock = threading.RLock()
        self._started = self._closed = False

    # -- the with block -------------------------------------------------------------------------------
    def __enter__(self) -> Launch:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> Launch:
        """Start the instances and wait until each has opened the scene and connected."""
        if self._started:
            raise RuntimeError("a launch runs once: call launch() again for another")
        self._started = True
        self.secret = wire.new_secret()
        self.hub = Hub(self.secret, self.num_instances, self.queue_size, self.host)
        self.address = self.hub.address
        _OPEN.add(self)
        try:
            for i in range(self.num_instances):
                self._spawn(i, first_seq=0, generation=0)
            self.hub.on_lost = self._lost
            threading.Thread(target=self._watch, daemon=True).start()
            self.hub.wait_ready(self.start_timeout, self._check_started)
            self._check_started()
        except BaseException:
            self.close()
            raise
        return self

    def instance_spec(self, i: int, first_seq: int, generation: int) -> dict:
        """What instance ``i`` renders, as ``app.stream_instance.InstanceSpec`` reads it. The scratch folder:
        each instance makes its own nerf-stream-<pid>-* in it and removes it on exit."""
        return {
            "connect": f"{self.address[0]}:{self.address[1]}", "instance": i, "instances": self.num_instances,
            "generation": generation, "first_seq": first_seq, "views": self.views, "seed": self.seed,
            "settings": self.settings, "source": self.source, "randomize": self.randomize,
            "keypoints": self.keypoints, "scratch": tempfile_dir(),
        }  # fmt: skip

    def _spawn(self, i: int, first_seq: int, generation: int) -> None:
        spec = json.dumps(self.instance_spec(i, first_seq, generation), allow_nan=False)  # before any process
        pipe = subprocess.PIPE
        proc = subprocess.Popen(
            [*self.command, "stream"], stdin=pipe, stdout=pipe, stderr=subprocess.STDOUT, start_new_session=True
        )
        lines: collections.deque = collections.deque(maxlen=OUTPUT_LINES)
        with self._lock:
            self.procs[i] = (proc, generation)
            self._every_proc.append(proc)
            self.output[i] = lines
        reader = threading.Thread(target=_read_output, args=(proc, lines), daemon=True)
        reader.start()
        with self._lock:
            self._readers[i] = reader
        try:
            proc.stdin.write(self.secret.hex().encode() + b"\n" + spec.encode() + b"\n")
            proc.stdin.close()
        except OSError:
            pass  # it died at once: the watcher reports how

    def _check_started(self) -> None:
        with self._lock:
            procs = dict(self.procs)
        for i, (proc, _) in procs.items():
            state = self.hub.instances[i].state
            exited = proc.poll() is not None and state == "starting" and self.on_lost != "restart"
            if state == "dead" or exited:
                raise InstanceLost(f"Blender instance {i} could not start: {self._ended(i, proc)}")
        if self.hub.failure:
            raise InstanceLost(self.hub.failure)

    def _watch(self) -> None:
        while not self._closed:
            with self._lock:
                procs = dict(self.procs)
            for i, (proc, generation) in procs.items():
                inst = self.hub.instances[i]
                if proc.poll() is not None and inst.state in ("starting", "live") and inst.generation == generation:
                    self.hub.lose(i, self._ended(i, proc), generation)
            time.sleep(0.1)

    def _ended(self, i: int, proc: subprocess.Popen) -> str:
        try:
            code = proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            return "its connection closed while its process still runs"
        how = f"it was killed by signal {-code}" if code < 0 else f"it exited with code {code}"
        reader = self._readers.get(i)
        if reader is not None:
            reader.join(timeout=1.0)  # its last words are still in the pipe
        last = _last_line(self.output.get(i, ()))
        return how + (f" ({last})" if last else "")

    def _lost(self, i: int, reason: str) -> tuple[str, str]:
        """The hub's ``on_lost``: restart the instance, or say how it ended."""
        with self._lock:
            proc, _ = self.procs[i]
            if reason == "its connection closed":
                reason = self._ended(i, proc)
            if self.on_lost == "restart" and self.restarts[i] < MAX_RESTARTS and not self._closed:
                self.restarts[i] += 1
                _stop(proc)
                generation = self.hub.expect_again(i)
                self._spawn(i, first_seq=self.hub.instances[i].received, generation=generation)
                return "restart", reason
        return ("continue" if self.on_lost == "continue" else "raise"), reason

    # -- while running --------------------------------------------------------------------------------
    def send(self, params: dict) -> int:
        """Hand ``params`` (JSON-able) to every instance: the randomisation sees them as ``ctx.params``
        from its next frame on. Returns the version number frames carry as ``control``."""
        if not isinstance(params, dict):
            raise ValueError("params must be a dict")
        return self.hub.send_params(params)

    def pids(self) -> list[int]:
        with self._lock:
            return [proc.pid for proc, _ in self.procs.values() if proc.poll() is None]

    def stats(self) -> dict:
        """Frames each instance has rendered (delivered to the hub), its state, frames queued, peers refused."""
        return {**self.hub.stats(), "restarts": dict(self.restarts)}

    def facts(self) -> dict:
        return {
            "source": self.source,
            "settings": self.settings,
            "num_instances": self.num_instances,
            "seed": self.seed,
            "views": self.views,
            "randomize": self.randomize,
            "keypoints": self.keypoints,
        }

    def close(self) -> None:
        """Stop every instance (politely, then by force) and the hub. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            procs = list(self._every_proc)
        if self.hub is not None:
            self.hub.close()
        for proc in procs:
            _stop(proc)
        for stream in self.streams:
            if stream.recorder is not None:
                stream.recorder.close()
        for proc in procs:  # the scratch folders of instances that could not remove their own
            for folder in glob.glob(os.path.join(tempfile_dir(), f"nerf-stream-{proc.pid}-*")):
                shutil.rmtree(folder, ignore_errors=True)
        _OPEN.discard(self)


def _stop(proc: subprocess.Popen) -> None:
    """End the instance's whole process group: SIGTERM, then SIGKILL after 5 s."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # whatever it started in its group is ended with it
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _close_all() -> None:
    for launch_ in list(_OPEN):
        launch_.close()


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


def _read_output(proc: subprocess.Popen, lines: collections.deque) -> None:
    for raw in proc.stdout:
        lines.append(raw.decode("utf-8", "replace").rstrip())
    proc.stdout.close()


def _last_line(lines) -> str:
    lines = [ln for ln in list(lines) if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or [""])[-1].strip()[:500]


def _whole(name: str, value, low: int, high: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")


def _source(scene) -> dict:
    if scene is None or scene == "demo":
        return {"demo": True}
    path = Path(scene).expanduser().resolve()
    if not path.is_file():
        raise UserError(f"scene {scene} is not a file")
    return {"blend" if path.suffix.lower() == ".blend" else "import_path": str(path)}


def _settings_values(settings) -> dict:
    """The dataset settings as the instances read them (``core.settings.settings_from_values``): from a dict of
    cli.py's options (``{"resolution": "64x64", "test-elevation": 20}``), a list of its arguments, or a
    ``Settings``. A name that is no setting, or one the launch sets itself, is refused here."""
    if settings is None:
        return {}
    if isinstance(settings, Settings):
        return json.loads(json.dumps(settings.to_dict()))
    if isinstance(settings, list | tuple):
        settings = _pairs(list(settings))
    if not isinstance(settings, dict):
        raise ValueError("settings must be a dict of cli.py options, a list of arguments, or a Settings")
    values = {}
    for key, value in settings.items():
        if str(key).replace("-", "_") in RESERVED:
            raise ValueError(f"settings may not set {key!r}: launch() sets it (see its arguments)")
        name = setting_name(str(key))
        if name is None:
            raise ValueError(f"{key!r} is not a setting of cli.py")
        if value is not False and value is not None:
            values[name] = list(value) if isinstance(value, list | tuple) else value
            try:
                json.dumps(values[name], allow_nan=False)
            except (TypeError, ValueError):
                raise ValueError(
                    f"setting {key!r}: {value!r} is no value cli.py takes (text, a number, a list)"
                ) from None
            try:  # each value as its option takes it, here rather than in every instance (which checks all again)
                check_setting(name, values[name])
            except UserError as exc:
                raise ValueError(f"settings: {exc}") from None
    return values


def _pairs(args: list) -> dict:
    """``["--samples", "4", "--transparent"]`` as ``{"samples": "4", "transparent": True}``."""
    out, i = {}, 0
    while i < len(args):
        word = str(args[i])
        if not word.startswith("--"):
            raise ValueError(f"settings: {word!r} is not an option")
        key, eq, value = word[2:].partition("=")
        name = setting_name(key)
        if eq:
            out[key] = value
        elif name in SETTING_FIELDS and kind_of(name) == "bool":
            out[key] = True
        else:
            if i + 1 >= len(args):
                raise ValueError(f"settings: {word} needs a value")
            out[key], i = str(args[i + 1]), i + 1
        i += 1
    return out


def _keypoints(keypoints) -> list[str]:
    names = [keypoints] if isinstance(keypoints, str) else list(keypoints or ())
    if len(names) > MAX_KEYPOINTS:
        raise ValueError(f"at most {MAX_KEYPOINTS} keypoints, not {len(names)}")
    for name in names:
        if not isinstance(name, str) or not name or "," in name or "\n" in name:
            raise ValueError(f"keypoint {name!r} is not an object name (or 'Object:vertex') without commas")
    return names


def _randomize_spec(randomize) -> str | None:
    if randomize is None:
        return None
    if callable(randomize):
        name = getattr(randomize, "__qualname__", "")
        try:
            path = inspect.getsourcefile(randomize)
        except TypeError:
            path = None
        if not path or "<" in name or "." in name or not Path(path).is_file():
            raise ValueError("randomize must be a function defined at the top level of a .py file")
        return f"{Path(path).resolve()}:{name}"
    path, _, func = str(randomize).partition(":")
    if not Path(path).is_file():
        raise UserError(f"randomize script {path} is not a file")
    return f"{Path(path).resolve()}:{func or 'randomize'}"


def _blender_command(blender) -> list[str]:
    if blender is None:
        if importlib.util.find_spec("bpy") is not None:
            return cli_command(sys.executable, [], blender=False)
        blender = shutil.which("blender")
        if blender is None:
            raise UserError("no Blender: install the bpy module (pip install bpy==5.0.1) or pass blender=PATH")
    return cli_command(str(blender), [], blender="blender" in Path(blender).name.lower())
