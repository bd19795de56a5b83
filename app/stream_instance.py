"""``cli.py stream``: one Blender instance of ``nerf_dataset.stream.launch``, rendering frames into the hub.

The launch hands each instance its secret and then its spec (``InstanceSpec``, JSON), both on stdin, before the
scene loads: nothing of it is on a command line. The instance renders only with credit from the hub
(back-pressure), applies the trainer's parameters between frames, and exits when the hub says stop or its
connection closes (the trainer is gone), so it never outlives its launch.
"""

from __future__ import annotations

import os
import select
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..core.settings import settings_from_values
from ..core.text import one_line
from ..stream import wire
from .dataset import Source

EXIT_BAD_INPUT = 2
VIEWS = ("rig", "random")


@dataclass(frozen=True)
class InstanceSpec:
    """What one instance renders, and for whom: the launch's ``stream.launcher.instance_spec``, checked."""

    address: tuple[str, int]
    instance: int
    instances: int
    generation: int
    first_seq: int
    views: str
    seed: int
    settings: dict
    """The dataset settings as the launch gave them (``core.settings.settings_from_values`` reads them)."""
    source: Source
    randomize: str | None
    keypoints: tuple[str, ...]
    scratch: str
    """The folder each instance makes its own scratch folder in (removed on every way out)."""
    verbose: bool = False

    @staticmethod
    def from_json(d) -> InstanceSpec:
        """The spec a launch sent, every field of its type and range (a bad one is one sentence)."""

        def whole(name: str, low: int, high: int) -> int:
            v = d.get(name)
            if type(v) is not int or not low <= v <= high:
                raise UserError(f"the launch's {name} is not a whole number from {low} to {high}")
            return v

        if not isinstance(d, dict):
            raise UserError("the launch's spec is not an object")
        host, _, port = str(d.get("connect", "")).rpartition(":")
        if not host or not host.isprintable() or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
            raise UserError(f"the hub's address {str(d.get('connect'))[:100]!r} is not HOST:PORT")
        instances = whole("instances", 1, 1 << 16)
        keypoints, source = d.get("keypoints", []), d.get("source", {})
        names_ok = isinstance(keypoints, list) and all(isinstance(k, str) and k for k in keypoints)
        if not names_ok or len(keypoints) > wire.MAX_KEYPOINTS:
            raise UserError(f"the launch's keypoints are not at most {wire.MAX_KEYPOINTS} names")
        if d.get("views") not in VIEWS or not isinstance(d.get("settings"), dict) or not isinstance(source, dict):
            raise UserError("the launch's views, settings or source are of the wrong kind")
        try:
            source = Source(**{k: source[k] for k in ("blend", "import_path", "demo", "object") if k in source})
        except TypeError:
            raise UserError("the launch's source is of the wrong kind") from None
        if sum(bool(getattr(source, k)) for k in ("blend", "import_path", "demo")) != 1:
            raise UserError("the launch's source names no scene, or more than one")
        scratch, randomize = d.get("scratch"), d.get("randomize")
        if not isinstance(scratch, str) or not os.path.isabs(scratch) or not os.path.isdir(scratch):
            raise UserError("the launch's scratch folder is not an existing absolute folder")
        return InstanceSpec(
            (host, int(port)), whole("instance", 0, instances - 1), instances, whole("generation", 0, 1 << 16),
            whole("first_seq", 0, 1 << 62), d["views"], whole("seed", 0, 2**31 - 1), d["settings"], source,
            randomize if isinstance(randomize, str) else None, tuple(keypoints), scratch,
            d.get("verbose") is True,
        )  # fmt: skip


class Stopped(Exception):
    pass


def serve(secret: bytes, spec: InstanceSpec) -> int:
    """Render frames for the hub until it says stop, the views run out, or the trainer is gone."""
    from ..blender_io.presence import require_blender

    scratch = None
    try:
        require_blender()
        # Our own folder for the frame being rendered, removed on every way out.
        scratch = Path(tempfile.mkdtemp(prefix=f"nerf-stream-{os.getpid()}-", dir=spec.scratch))
        return _Instance(spec, secret, scratch).run()
    except UserError as exc:
        print(f"cli.py stream: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"cli.py stream: failed: {one_line(str(exc))}", file=sys.stderr)
        return 1
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


class _Instance:
    def __init__(self, spec: InstanceSpec, secret: bytes, scratch: Path):
        from ..blender_io.stream_frames import FrameRenderer, load_randomize, match_viewport_to_render
        from ..exporters import FORMATS
        from .pipeline import plan_scene

        self.spec, self.secret = spec, secret
        # The alpha is the annotations' truth; no dataset is written, so no format's limits apply (nerfstudio's
        # layout holds any camera: non-square pixels, per-view intrinsics).
        settings = settings_from_values({**spec.settings, "seed": spec.seed}, FORMATS)
        settings = replace(settings, transparent=True, formats=("nerfstudio",), passes=())
        # What the viewport depsgraph holds (the scene reader's, the annotations') is made what renders.
        self.scene, self.objs, self.plan = plan_scene(
            settings, spec.source, quiet=not spec.verbose, prepare=match_viewport_to_render
        )
        self.frames = FrameRenderer(self.scene, self.objs, self.plan, scratch, list(spec.keypoints), not spec.verbose)
        self.randomize = load_randomize(spec.randomize)
        self.credits, self.params = 0, (0, {})

    def run(self) -> int:
        from ..blender_io.stream_frames import returned_params

        a = self.spec
        try:
            self.sock = wire.connect(a.address, self.secret)
        except (OSError, wire.WireError) as exc:
            where = one_line(f"{a.address[0]}:{a.address[1]}: {exc}")
            print(f"cli.py stream: failed: cannot reach the hub at {where}", file=sys.stderr)
            return 1
        wire.send(self.sock, {"type": "hello", "role": "instance", "instance": a.instance, "generation": a.generation})
        try:
            for seq, view, c2w in self._views():
                self._pump(wait=True)
                self._frame(seq, view, c2w, returned_params)
            wire.send(self.sock, {"type": "end"})
            return 0
        except (Stopped, ConnectionError):
            return 0  # the trainer is done with us
        except wire.WireError as exc:
            if "closed" in str(exc):
                return 0
            print(f"cli.py stream: error: instance {a.instance}: the hub broke the protocol: {exc}", file=sys.stderr)
            return 1
        except BaseException as exc:  # noqa: BLE001 - the user's randomisation can raise anything; say it, once
            message = f"{type(exc).__name__}: {one_line(str(exc))}"
            print(f"cli.py stream: error: instance {a.instance}: {message}", file=sys.stderr)
            try:
                wire.send(self.sock, {"type": "error", "message": message})
            except OSError:
                pass
            return 1
        finally:
            self.sock.close()

    def _views(self):
        a, plan = self.spec, self.plan
        if a.views == "rig":
            mine = plan.views[a.instance :: a.instances]
            for seq in range(a.first_seq, len(mine)):
                yield seq, mine[seq], None
            return
        seq = a.first_seq
        while True:
            rng = np.random.default_rng([a.seed, a.instance, seq, 1])
            yield seq, None, self.frames.random_pose(rng)
            seq += 1

    def _pump(self, wait: bool) -> None:
        """Handle the hub's messages; with ``wait``, block until there is credit to render a frame."""
        while True:
            blocking = wait and self.credits <= 0
            ready, _, _ = select.select([self.sock], [], [], None if blocking else 0)
            if not ready:
                return
            header, _ = wire.recv(self.sock, max_payload=0)
            kind = header["type"]
            if kind == "credit" and isinstance(header.get("n"), int):
                self.credits += header["n"]
            elif kind == "params" and isinstance(header.get("params"), dict):
                self.params = (int(header.get("version", 0)), header["params"])
            elif kind == "stop":
                raise Stopped()

    def _frame(self, seq: int, view, c2w, returned_params) -> None:
        from ..blender_io.stream_frames import Context, camera_c2w

        a, fr = self.spec, self.frames
        fr.pose(view, c2w)
        params = {}
        if self.randomize is not None:
            ctx = Context(
                rng=np.random.default_rng([a.seed, a.instance, seq]), scene=self.scene, object=fr.target,
                objects=self.objs, camera=fr.camera, params=self.params[1], instance=a.instance, seq=seq, view=view,
            )  # fmt: skip
            params = returned_params(self.randomize(ctx), wire.MAX_PARAMS)
        image = fr.render()
        pose = camera_c2w(fr.camera)
        intr = fr.intrinsics()  # as rendered: the rig's, or what the randomisation made of them
        K = intr.matrix()
        header = {
            "type": "frame",
            "seq": seq,
            "split": view.split if view is not None else "random",
            "index": view.index if view is not None else seq,
            "width": intr.w,
            "height": intr.h,
            "c2w": [float(x) for x in pose.ravel()],
            "K": [float(x) for x in K.ravel()],
            "params": params,
            "control": self.params[0],
            "annotations": fr.annotate(pose, K, intr.w, intr.h),
        }
        self.credits -= 1
        wire.send(self.sock, header, {"image": image})
        self._pump(wait=False)
