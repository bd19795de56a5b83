"""Record a stream as it passes, and read it back without Blender.

A recording is a folder: ``frames/i<instance>_<seq>.png`` (the RGBA frame as rendered, lossless) and
``index.jsonl``, one line per delivered frame in delivery order (the frame's header: poses, intrinsics,
annotations, the randomisation's parameters). An image is in place before its line is written, so a cut-off
recording replays every complete line and nothing else. Nothing is pickled.
"""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..core.files import write_bytes_atomic
from ..core.strict_json import NotFinite, strict_json
from ..core.untrusted import Unreadable, open_regular
from .items import BACKGROUNDS, CONVENTIONS, check_choice, check_frame, frame_item, to_torch
from .wire import decode_arrays

INDEX = "index.jsonl"
FACTS = "stream.json"
FORMAT = "nerf-dataset-stream"
MAX_LINE = 1 << 20
MAX_LINES = 10_000_000
FRAME_NAME = re.compile(r"frames/i\d{1,7}_\d{1,12}\.png")


class Recorder:
    """Writes each frame handed to a consumer; one per recorded stream (the hub calls it from its threads)."""

    def __init__(self, folder, facts: dict):
        self.root = Path(folder)
        try:
            if self.root.exists() and (not self.root.is_dir() or any(self.root.iterdir())):
                raise UserError(f"record folder {self.root} is not empty: record into a new folder")
            (self.root / "frames").mkdir(parents=True, exist_ok=True)
            data = json.dumps({"format": FORMAT, "version": 1, **facts}, indent=1).encode()
            write_bytes_atomic(self.root / FACTS, data)
            self._index = open(self.root / INDEX, "xb")  # noqa: SIM115 (open for the recording's life)
        except OSError as exc:
            raise UserError(f"cannot record into {self.root}: {exc.strerror or exc}") from None
        self._lock = threading.Lock()
        self.count = 0

    def write(self, header: dict, payload: bytes) -> None:
        from PIL import Image

        image = decode_arrays(header, payload)["image"]
        name = f"frames/i{header['instance']}_{header['seq']:08d}.png"
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image), "RGBA").save(buf, "PNG", compress_level=1)
        line = {k: v for k, v in header.items() if k not in ("type", "arrays")}
        line["image"] = name
        with self._lock:
            write_bytes_atomic(self.root / name, buf.getvalue())
            self._index.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
            self._index.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            self._index.close()


def _open(root: Path, name: str):
    try:
        return open_regular(root / name, root)
    except Unreadable as exc:
        raise UserError(f"{root} is not a recorded stream: its {name} {exc}") from None


def read_index(folder) -> list[dict]:
    root = Path(folder)
    with _open(root, FACTS) as f:
        raw = f.read(MAX_LINE + 1)
    try:
        facts = json.loads(raw) if len(raw) <= MAX_LINE else None
    except (ValueError, RecursionError):
        facts = None
    if not isinstance(facts, dict) or facts.get("format") != FORMAT:
        raise UserError(f"{root} is not a recorded stream ({FACTS} is not this tool's)")
    lines = []
    with _open(root, INDEX) as f:
        for number, raw in enumerate(iter(lambda: f.readline(MAX_LINE + 1), b""), 1):
            if not raw.endswith(b"\n"):
                if len(raw) > MAX_LINE:
                    raise UserError(f"{INDEX} line {number} is longer than {MAX_LINE} bytes")
                break  # the line being written when the recording was cut off
            if number > MAX_LINES:
                raise UserError(f"{INDEX} has more than {MAX_LINES} lines")
            try:
                line = strict_json(raw)
            except NotFinite:
                raise UserError(f"{INDEX} line {number} holds a number that is not finite") from None
            except (ValueError, RecursionError):
                raise UserError(f"{INDEX} line {number} is not JSON") from None
            if not isinstance(line, dict) or not isinstance(line.get("image"), str):
                raise UserError(f"{INDEX} line {number} is not a frame")
            if not FRAME_NAME.fullmatch(line["image"]):
                raise UserError(f"{INDEX} line {number} names {line['image']!r}, not a frame of the recording")
            lines.append(line)
    return lines


class ReplayDataset:
    """The frames of a recording as a map-style dataset, in delivery order: the live stream's items."""

    def __init__(self, folder, background: str = "keep", convention: str = "opengl", dtype=None, pose_dtype=None):
        check_choice("background", background, BACKGROUNDS)
        check_choice("convention", convention, CONVENTIONS)
        self.root = Path(folder)
        self.lines = read_index(self.root)
        self.background, self.convention = background, convention
        self.dtype, self.pose_dtype = dtype, pose_dtype

    def __len__(self) -> int:
        return len(self.lines)

    def frame(self, i: int) -> dict:
        """Item ``i`` as numpy arrays (no torch needed)."""
        from ..core.images import read_png_rgba

        line = self.lines[i]
        try:
            fields = check_frame(line, live=False)  # the same check as a live frame's, before the PNG is read
        except UserError as exc:
            raise UserError(f"{INDEX} line {i + 1} is not a valid frame: {exc}") from None
        try:
            image = read_png_rgba(self.root / line["image"], (fields["width"], fields["height"]), self.root)
        except Unreadable as exc:
            raise UserError(f"{line['image']} in {self.root} {exc}") from None
        return frame_item(fields, image, self.background, self.convention)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return to_torch(self.frame(i), self.dtype, self.pose_dtype)

    def __repr__(self) -> str:
        return f"replay({str(self.root)!r}): {len(self)} frames"


def _torch_dataset(cls):
    """``cls`` as a ``torch.utils.data.Dataset`` subclass when torch is there (DataLoader checks isinstance)."""
    try:
        from torch.utils.data import Dataset
    except ImportError:
        return cls
    return type(cls.__name__, (cls, Dataset), {"__doc__": cls.__doc__})


ReplayDataset = _torch_dataset(ReplayDataset)


def replay(folder, background: str = "keep", convention: str = "opengl", dtype=None, pose_dtype=None):
    """A recorded stream as a map-style dataset, without Blender: the same items the live stream gave."""
    return ReplayDataset(folder, background, convention, dtype, pose_dtype)
