"""``cli.py stream``: one Blender instance of ``nerf_dataset.stream.launch``, rendering frames into the hub.

The launch's secret comes on stdin, first, before the scene loads. The instance renders only with credit
from the hub (back-pressure), applies the trainer's parameters between frames, and exits when the hub says
stop or its connection closes (the trainer is gone), so it never outlives its launch.
"""

from __future__ import annotations

import os
import select
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..core.text import one_line
from ..stream import wire
from .cli_parts import require_blender, settings_from_args

EXIT_BAD_INPUT = 2


class Stopped(Exception):
    pass


def stream_command(argv: list[str], parser) -> int:
    """``parser``: cli.py's own (``commandline.build_parser()``), to which the stream's options are added."""
    secret = _read_secret()
    if secret is None:
        print("cli.py stream: error: the launch's secret must come first on stdin (64 hex digits)", file=sys.stderr)
        return EXIT_BAD_INPUT
    scratch = None
    try:
        args = _add_stream_options(parser).parse_args(argv)
        host, _, port = args.connect.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"--connect {args.connect}: give HOST:PORT")
        require_blender()
        # Our own folder for the frame being rendered (in --out), removed on every way out.
        scratch = Path(tempfile.mkdtemp(prefix=f"nerf-stream-{os.getpid()}-", dir=args.out))
        instance = _Instance(args, (host, int(port)), secret, scratch)
        return instance.run()
    except UserError as exc:
        print(f"cli.py stream: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"cli.py stream: failed: {one_line(str(exc))}", file=sys.stderr)
        return 1
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _read_secret() -> bytes | None:
    try:
        line = sys.stdin.buffer.readline(200).strip()
        secret = bytes.fromhex(line.decode("ascii"))
    except (ValueError, OSError, AttributeError):
        return None
    return secret if len(secret) == 32 else None


def _add_stream_options(p):
    p.prog = "cli.py stream"
    g = p.add_argument_group("streaming (started by nerf_dataset.stream.launch)")
    g.add_argument("--connect", metavar="HOST:PORT", required=True, help="the hub to deliver frames to")
    g.add_argument("--instance", type=int, default=0, metavar="I", help="this instance's number")
    g.add_argument("--instances", type=int, default=1, metavar="N", help="how many instances share the views")
    g.add_argument("--generation", type=int, default=0, help="how many times this instance was restarted")
    g.add_argument("--first-seq", type=int, default=0, metavar="K", help="the first frame number to render")
    g.add_argument("--views", choices=("rig", "random"), default="rig", help="the rig's views, or random ones")
    g.add_argument("--randomize", metavar="FILE.py[:FUNC]", help="run FUNC(ctx) before each frame")
    g.add_argument("--keypoints", metavar="NAMES", help="objects or Object:vertex to project, comma-separated")
    return p


class _Instance:
    def __init__(self, args, address, secret: bytes, scratch: Path):
        from ..blender_io.stream_frames import FrameRenderer, load_randomize, match_viewport_to_render
        from .dataset import Source
        from .pipeline import plan_scene

        if not (0 <= args.instance < args.instances) or args.first_seq < 0:
            raise UserError("--instance must be from 0 to --instances - 1, and --first-seq at least 0")
        self.args, self.address, self.secret = args, address, secret
        # The alpha is the annotations' truth; no dataset is written, so no format's limits apply (nerfstudio's
        # layout holds any camera: non-square pixels, per-view intrinsics).
        settings = replace(settings_from_args(args), transparent=True, formats=("nerfstudio",), passes=())
        source = Source(blend=args.blend, import_path=args.import_path, demo=args.demo, object=args.object)
        # What the viewport depsgraph holds (the scene reader's, the annotations') is made what renders.
        self.scene, self.objs, self.plan = plan_scene(
            settings, source, quiet=not args.verbose, prepare=match_viewport_to_render
        )
        keypoints = [k for k in (args.keypoints or "").split(",") if k]
        self.frames = FrameRenderer(self.scene, self.objs, self.plan, scratch, keypoints, not args.verbose)
        self.randomize = load_randomize(args.randomize)
        self.credits, self.params = 0, (0, {})

    def run(self) -> int:
        from ..blender_io.stream_frames import returned_params

        try:
            self.sock = wire.connect(self.address, self.secret)
        except (OSError, wire.WireError) as exc:
            print(f"cli.py stream: failed: cannot reach the hub at {self.args.connect}: {exc}", file=sys.stderr)
            return 1
        a = self.args
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
        a, plan = self.args, self.plan
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

        a, fr = self.args, self.frames
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
