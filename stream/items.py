"""A streamed frame as the trainer sees it: the same item whether it comes live, or replayed from a recording.

``check_frame`` is the one validator of a frame's header, wherever it comes from: the hub runs it on what an
instance sends (before its payload is read, so an invalid frame is never queued), the consumer on what the hub
forwards, and replay on each recorded line (a recording is someone's files). Every number is finite and in
range, every list has the length its name promises, a live frame lists exactly the image its size promises,
and nothing in a header is ever evaluated.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.conventions import OPENGL_FROM_OPENCV
from ..core.errors import UserError
from .wire import MAX_KEYPOINTS, MAX_PAYLOAD

BACKGROUNDS = ("keep", "white", "black")
CONVENTIONS = ("opengl", "opencv")
MAX_SIDE = 1 << 15
MAX_MAGNITUDE = 1e18
"""The largest pose entry, intrinsic or pixel coordinate a frame may carry: beyond any scene or image (points
behind the camera are at -1e9), and far inside float32, which poses may be asked for in."""
MAX_SEQ = 10**12 - 1
"""A frame's number, at most: a recording names its frames with up to 12 digits."""


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _is_number(x) -> bool:
    """A finite int or float no larger than MAX_MAGNITUDE (an int is compared before any conversion: a
    400-digit one does not fit a float)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return False
    return (isinstance(x, int) or math.isfinite(x)) and -MAX_MAGNITUDE <= x <= MAX_MAGNITUDE


def _floats(value, n: int, name: str) -> np.ndarray:
    if not (isinstance(value, list) and len(value) == n):
        raise UserError(f"the frame's {name} is not a list of {n} numbers")
    if not all(_is_number(x) for x in value):
        raise UserError(f"the frame's {name} holds something that is not a finite number within ±{MAX_MAGNITUDE:.0e}")
    return np.asarray(value, dtype=np.float64)


def _int(header: dict, name: str, low: int = 0, high: int = 1 << 62) -> int:
    v = header.get(name)
    if not (isinstance(v, int) and not isinstance(v, bool) and low <= v <= high):
        raise UserError(f"the frame's {name} is not a whole number from {low} to {high}")
    return v


def _intrinsics(value) -> np.ndarray:
    """K as a pinhole camera has it: focal lengths above 0, the last row 0 0 1."""
    K = _floats(value, 9, "K").reshape(3, 3)
    if not (K[0, 0] > 0 and K[1, 1] > 0 and K[1, 0] == 0 and list(K[2]) == [0, 0, 1]):
        raise UserError("the frame's K is not a camera's intrinsics (positive focal lengths, last row 0 0 1)")
    return K


def _image_listed(header: dict, w: int, h: int) -> None:
    """A live frame's arrays: its image and nothing else, uint8 RGBA of the size the header says."""
    specs = header.get("arrays")
    if not (isinstance(specs, list) and any(isinstance(a, dict) and a.get("name") == "image" for a in specs)):
        raise UserError("the frame has no image")
    image = {"name": "image", "dtype": "uint8", "shape": [h, w, 4]}
    if specs != [image]:
        raise UserError(f"the frame's arrays are not its image alone, uint8 ({h}, {w}, 4)")


def check_frame(header: dict, live: bool) -> dict:
    """The item's fields but its image, every one checked (UserError, one sentence, on the first that is
    wrong). ``live``: the header came over the wire and lists its arrays (a recorded line names a PNG)."""
    w, h = _int(header, "width", 1, MAX_SIDE), _int(header, "height", 1, MAX_SIDE)
    if w * h * 4 > MAX_PAYLOAD:
        raise UserError(f"the frame's {w} x {h} pixels are more than a frame may carry")
    if live:
        _image_listed(header, w, h)
    split = header.get("split")
    if not isinstance(split, str) or len(split) > 64:
        raise UserError("the frame's split is not a short text")
    ann = header.get("annotations")
    if not isinstance(ann, dict):
        raise UserError("the frame has no annotations")
    names = ann.get("keypoint_names", [])
    if not (isinstance(names, list) and len(names) <= MAX_KEYPOINTS and all(isinstance(n, str) for n in names)):
        raise UserError("the frame's keypoint_names is not a list of names")
    k = len(names)
    visible = ann.get("keypoints_visible")
    if not (isinstance(visible, list) and len(visible) == k and all(isinstance(v, bool) for v in visible)):
        raise UserError("the frame's keypoints_visible is not one true/false per keypoint")
    params = header.get("params", {})
    if not isinstance(params, dict):
        raise UserError("the frame's params is not an object")
    return {
        "c2w": _floats(header.get("c2w"), 16, "c2w").reshape(4, 4),
        "K": _intrinsics(header.get("K")),
        "width": w,
        "height": h,
        "split": split,
        "index": _int(header, "index"),
        "seq": _int(header, "seq", 0, MAX_SEQ),
        "instance": _int(header, "instance", 0, 1 << 20),
        "params": params,
        "control": _int(header, "control") if "control" in header else 0,
        "bbox": _floats(ann.get("bbox"), 4, "bbox"),
        "in_view": bool(ann.get("in_view") is True),
        "box_corners": _floats(ann.get("box_corners"), 16, "box_corners").reshape(8, 2),
        "keypoints": _floats(ann.get("keypoints"), 2 * k, "keypoints").reshape(k, 2),
        "keypoints_visible": np.asarray(visible, dtype=bool),
        "keypoint_names": list(names),
        "object_to_camera": _floats(ann.get("object_to_camera"), 16, "object_to_camera").reshape(4, 4),
    }


def frame_item(fields: dict, image: np.ndarray, background: str = "keep", convention: str = "opengl") -> dict:
    """The item for one frame: ``fields`` from ``check_frame``, ``image`` the rendered uint8 RGBA (H, W, 4)."""
    h, w = fields["height"], fields["width"]
    if image.dtype != np.uint8 or image.shape != (h, w, 4):
        raise UserError(f"the frame's image is {image.dtype} {image.shape}, not uint8 ({h}, {w}, 4)")
    item = {"image": composite(image, background), **fields}
    if convention == "opencv":  # the camera's axes to OpenCV's
        item["c2w"] = fields["c2w"] @ OPENGL_FROM_OPENCV
        item["object_to_camera"] = OPENGL_FROM_OPENCV @ fields["object_to_camera"]
    return item


def composite(image: np.ndarray, background: str) -> np.ndarray:
    """Float image in [0, 1] (from uint8, or already float): RGBA as stored, or RGB over a white or black
    background. Streamed frames and ``NerfDataset`` both come through here."""
    check_choice("background", background, BACKGROUNDS)
    img = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32, copy=False)
    if background == "keep" or img.shape[-1] == 3:
        return img
    rgb, a = img[..., :3], img[..., 3:4]
    bg = 1.0 if background == "white" else 0.0
    return rgb * a + bg * (1.0 - a)


def to_torch(item: dict, dtype=None, pose_dtype=None) -> dict:
    """numpy arrays → tensors (images in ``dtype``, poses and pixel geometry in ``pose_dtype``)."""
    import torch

    dtype = dtype or torch.float32
    pose_dtype = pose_dtype or torch.float64
    out = {}
    for key, value in item.items():
        if isinstance(value, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(value))
            if t.is_floating_point():
                t = t.to(dtype if key in ("image", "depth", "normal") else pose_dtype)
            out[key] = t
        else:
            out[key] = value
    return out
