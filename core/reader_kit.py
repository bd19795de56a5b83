"""What every format's reader shares: the cameras it collects, the findings it reports, and the pieces
of JSON every consumer reads alike (intrinsics keys, frames, 4x4 poses).

The readers themselves live beside their writers (``exporters/<format>.py``) and follow their consumer's
rules (prior-art (c)); ``app.validate`` runs the checks common to all of them. The files come from
anyone: each is read through ``core.untrusted`` (regular files inside the dataset, bounded), and every
value is checked for its type before it is used, so a wrong one is a finding, never an exception.
"""

from __future__ import annotations

import json
import math
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .text import one_line
from .untrusted import Unreadable, inside, read_bounded

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".exr", ".bmp", ".tif", ".tiff"}
# Findings kept per dataset folder: a hostile file can hold a million wrong frames, a report should not.
MAX_FINDINGS = 200
# Intrinsics keys and the open interval each lies in (focal lengths and fields of view are positive, a
# field of view is below pi); None: any finite number.
INTRINSICS_RANGES = {
    "fl_x": math.inf,
    "fl_y": math.inf,
    "cx": None,
    "cy": None,
    "camera_angle_x": math.pi,
    "camera_angle_y": math.pi,
}
# A width or height beyond what strict parsers' 32-bit integers hold is no image size.
MAX_SIDE = 2**31 - 1


@dataclass(eq=False)  # each is one view: compared by identity (a file may list a view twice)
class Camera:
    """One view as a consumer reads it: OpenGL camera-to-world, pinhole K, where its pixels are."""

    label: str
    split: str
    image: Path
    c2w: np.ndarray
    K: np.ndarray | None
    size: tuple[int, int] | None
    """(w, h) the metadata promises, when it says."""
    mask: Path | None = None


@dataclass(frozen=True)
class Finding:
    where: str
    message: str
    problem: bool = True
    """False: a note (the data is right, but some consumer will read it wrongly)."""


@dataclass
class Dataset:
    folder: Path
    formats: list[str] = field(default_factory=list)
    cameras: list[Camera] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    omitted: int = 0
    """Problems beyond ``MAX_FINDINGS``, counted but not listed."""
    _seen: set = field(default_factory=set, init=False, repr=False, compare=False)

    def problem(self, where, message: str) -> None:
        self._add(Finding(one_line(self._rel(where), 300), one_line(message, 500)))

    def note(self, where, message: str) -> None:
        self._add(Finding(one_line(self._rel(where), 300), one_line(message, 500), problem=False))

    def _add(self, finding: Finding) -> None:
        if finding in self._seen:  # e.g. per-frame keys repeating one mistake
            return
        if len(self.findings) >= MAX_FINDINGS:
            self.omitted += finding.problem
            return
        self._seen.add(finding)
        self.findings.append(finding)

    def _rel(self, where) -> str:
        try:
            return str(Path(where).relative_to(self.folder.parent))
        except ValueError:
            return str(where)


# Characters that would break a report line, or the terminal: controls, line separators, lone surrogates.
SHOWN = 60
"""About how many characters of a value from a file a message quotes."""
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = 4
_REPR.maxlevel = 2


def shown(value) -> str:
    """A value from a file as a message quotes it: short, one line, JSON's words for true/false/null."""
    if isinstance(value, str):
        return f"'{one_line(value, SHOWN)}'"
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return one_line(_REPR.repr(value), SHOWN)


def kind(value) -> str:
    """What a JSON value is, in words."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    for types, words in ((dict, "an object"), (list, "a list"), (str, "a string"), ((int, float), "a number")):
        if isinstance(value, types):
            return words
    return type(value).__name__


def load_json(ds: Dataset, path: Path) -> dict | None:
    try:
        data = json.loads(read_bounded(path, ds.folder))
    except Unreadable as exc:
        ds.problem(path, str(exc))
        return None
    except RecursionError:  # "[[[[..." deeper than the interpreter's stack
        ds.problem(path, "is not readable JSON (nested too deeply)")
        return None
    except ValueError as exc:  # bad JSON, bad UTF-8, an integer of thousands of digits
        ds.problem(path, f"is not readable JSON ({exc})")
        return None
    if not isinstance(data, dict):
        ds.problem(path, f"is {kind(data)}, not a JSON object")
        return None
    return data


def relative_path(ds: Dataset, where, value, what: str, base: Path | None = None, suffix: str = "") -> Path | None:
    """``base / value + suffix`` (base: the dataset folder) when ``value`` is a relative path that stays in the
    dataset folder, links resolved; else a problem and None, so that the file is never opened."""
    if not isinstance(value, str):
        ds.problem(where, f"{what} {shown(value)} is {kind(value)}, not a path")
        return None
    if "\0" in value:
        ds.problem(where, f"{what} {shown(value)} has a NUL character")
        return None
    posix = value.replace("\\", "/")
    if posix.startswith("/") or re.match("[A-Za-z]:", posix):
        ds.problem(where, f"{what} {shown(value)} is absolute: the dataset works only where it was made")
        return None
    path = (base or ds.folder) / (posix + suffix)
    if not inside(ds.folder, path):
        ds.problem(where, f"{what} {shown(value)} leads outside the dataset folder: not read")
        return None
    return path


def frames_of(ds: Dataset, path: Path, meta: dict) -> list[dict]:
    """The frame objects of a transforms file, whose shape every reader relies on, checked once."""
    if "frames" not in meta:
        ds.problem(path, "has no 'frames': every loader reads its views from them")
        return []
    frames = meta["frames"]
    if not isinstance(frames, list):
        ds.problem(path, f"'frames' is {kind(frames)}, not a list")
        return []
    bad = [i for i, f in enumerate(frames) if not isinstance(f, dict)]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        ds.problem(path, f"frame {bad[0]} is {shown(frames[bad[0]])}, not an object{more}")
    return [f for f in frames if isinstance(f, dict)]


def names_list(ds: Dataset, path: Path, meta: dict, key: str) -> list[str] | None:
    """``meta[key]`` when it is a list of file names (nerfstudio's ``*_filenames``); None when absent."""
    listed = meta.get(key)
    if listed is None:
        return None
    if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
        what = kind(listed) if not isinstance(listed, list) else "a list with non-strings"
        ds.problem(path, f"'{key}' is {what}, not a list of file names")
        return None
    return listed


def _number(ds: Dataset, path: Path, meta: dict, key: str, top: float | None) -> float | None:
    """``meta[key]`` as a number in (0, top) (any finite one for ``top`` None); else a problem and None."""
    value = meta[key]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        ds.problem(path, f"'{key}' is {shown(value)}, not a number")
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        ds.problem(path, f"'{key}' is {shown(value)}, not a finite number")
        return None
    if top is not None and not 0 < number < top:
        ds.problem(path, f"'{key}' is {shown(value)}: it must be between 0 and {top:.5g}")
        return None
    return number


def _side(ds: Dataset, path: Path, meta: dict, key: str) -> int | None:
    value = meta[key]
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or (isinstance(value, float) and not value.is_integer()):
        ds.problem(path, f"'{key}' is {shown(value)}, not an integer: strict parsers reject it")
        return None
    if not 0 < value <= MAX_SIDE:
        ds.problem(path, f"'{key}' is {shown(value)}: an image size must be between 1 and {MAX_SIDE}")
        return None
    if isinstance(value, float):
        ds.problem(path, f"'{key}' is {shown(value)}, not an integer: strict parsers reject it")
    return int(value)


def intrinsics(
    ds: Dataset, path: Path, meta: dict, need_fl: bool, image_size=None
) -> tuple[np.ndarray | None, tuple | None]:
    """K and the (w, h) the keys promise, as instant-ngp and nerfstudio read them; without w and h, K comes
    from ``image_size`` (the images' own size, as NeRF-synthetic loaders do). A key of the wrong type or
    range is a problem and leaves no K (no silhouettes to check with it)."""
    w, h = (_side(ds, path, meta, k) if k in meta else None for k in ("w", "h"))
    promised = (w, h) if w and h else None
    size = promised or (tuple(image_size) if image_size else None)
    given = {k: _number(ds, path, meta, k, top) for k, top in INTRINSICS_RANGES.items() if k in meta}
    if None in given.values():
        return None, promised
    if "fl_x" in given:
        fx = given["fl_x"]
        fy = given.get("fl_y", fx)
    elif "camera_angle_x" in given and size:
        if need_fl:
            ds.problem(path, "gives camera_angle_x but no fl_x/fl_y: nerfstudio's dataparser rejects it")
        fx = 0.5 * size[0] / math.tan(0.5 * given["camera_angle_x"])
        fy = 0.5 * size[1] / math.tan(0.5 * given["camera_angle_y"]) if "camera_angle_y" in given else fx
    else:
        if need_fl:
            ds.problem(path, "has no fl_x/fl_y: nerfstudio's dataparser rejects it")
        return None, size
    if size is None:
        return None, None
    K = np.array([[fx, 0, given.get("cx", size[0] / 2)], [0, fy, given.get("cy", size[1] / 2)], [0, 0, 1.0]])
    if not np.isfinite(K).all():  # a field of view of 1e-320 rad
        ds.problem(path, "has intrinsics whose focal length is not a finite number")
        return None, promised
    return K, promised


def c2w_of(ds: Dataset, path: Path, frame: dict) -> np.ndarray | None:
    """The frame's ``transform_matrix``: 3 or 4 rows of 4 numbers (not strings, not booleans), finite."""
    rows = frame.get("transform_matrix")
    shaped = isinstance(rows, list) and len(rows) in (3, 4) and all(isinstance(r, list) and len(r) == 4 for r in rows)
    m = None
    if shaped and all(isinstance(x, (int, float)) and not isinstance(x, bool) for r in rows for x in r):
        try:
            m = np.array(rows, dtype=float)
        except OverflowError:
            m = None
    if m is not None and m.shape == (3, 4):
        m = np.vstack([m, [0, 0, 0, 1]])
    if m is None or not np.isfinite(m).all():
        ds.problem(path, f"frame {shown(frame.get('file_path'))} has no 4x4 transform_matrix of finite numbers")
        return None
    return m


def off_centre(K: np.ndarray, size: tuple[int, int]) -> bool:
    return abs(K[0, 2] - size[0] / 2) > 1e-3 or abs(K[1, 2] - size[1] / 2) > 1e-3 or abs(K[0, 0] - K[1, 1]) > 1e-3


# Per-frame paths of the pass files (nerfstudio's names, instant-ngp's depth_path): never opened unless
# they stay inside the dataset, like the image's.
PASS_PATH_KEYS = ("mask_path", "depth_file_path", "normal_file_path", "depth_path")


@dataclass(frozen=True)
class FrameFiles:
    file_path: str
    """As written in the file."""
    image: Path
    mask: Path | None


def frame_files(ds: Dataset, path: Path, frame: dict, suffix: str = "") -> FrameFiles | None:
    """The frame's image (``file_path`` + ``suffix``, relative to the JSON's folder) and mask, when their paths
    are strings that stay inside the dataset; None (a problem) when the image's is not."""
    if "file_path" not in frame:
        ds.problem(path, "has a frame without file_path")
        return None
    image = relative_path(ds, path, frame["file_path"], "file_path", path.parent, suffix)
    passes = {k: relative_path(ds, path, frame[k], k, path.parent) for k in PASS_PATH_KEYS if k in frame}
    return None if image is None else FrameFiles(frame["file_path"], image, passes.get("mask_path"))


# Keys only nerfstudio's transforms.json has: with any of them the file is nerfstudio's, else instant-ngp's.
NERFSTUDIO_ONLY_KEYS = {"camera_model", "train_filenames", "val_filenames", "test_filenames", "applied_transform"}


def transforms_json_kind(folder: Path) -> str | None:
    """ "nerfstudio" or "ngp" for a folder with a ``transforms.json`` (an unreadable one counts as ngp's, whose
    reader then reports it), else None."""
    from .untrusted import present

    path = Path(folder) / "transforms.json"
    if not present(path):
        return None
    meta = load_json(Dataset(Path(folder)), path)
    return "nerfstudio" if meta is not None and NERFSTUDIO_ONLY_KEYS & meta.keys() else "ngp"
