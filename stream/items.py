"""A streamed frame as the trainer sees it: the same item whether it comes live, or replayed from a recording.

Headers are checked field by field (a recording is someone's files): every number is finite, every list has
the length its name promises, and nothing in them is ever evaluated.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.conventions import OPENGL_FROM_OPENCV
from ..core.errors import UserError
from .wire import MAX_KEYPOINTS

BACKGROUNDS = ("keep", "white", "black")
CONVENTIONS = ("opengl", "opencv")
MAX_SIDE = 1 << 15


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _floats(value, n: int, name: str) -> np.ndarray:
    if not (isinstance(value, list) and len(value) == n):
        raise UserError(f"the frame's {name} is not a list of {n} numbers")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in value):
        raise UserError(f"the frame's {name} holds something that is not a finite number")
    return np.asarray(value, dtype=np.float64)


def _int(header: dict, name: str, low: int = 0, high: int = 1 << 62) -> int:
    v = header.get(name)
    if not (isinstance(v, int) and not isinstance(v, bool) and low <= v <= high):
        raise UserError(f"the frame's {name} is not a whole number from {low} to {high}")
    return v


def frame_item(header: dict, image: np.ndarray, background: str = "keep", convention: str = "opengl") -> dict:
    """The item for one frame: ``image`` is the rendered uint8 RGBA (H, W, 4)."""
    w, h = _int(header, "width", 1, MAX_SIDE), _int(header, "height", 1, MAX_SIDE)
    if image.dtype != np.uint8 or image.shape != (h, w, 4):
        raise UserError(f"the frame's image is {image.dtype} {image.shape}, not uint8 ({h}, {w}, 4)")
    split = header.get("split")
    if not isinstance(split, str) or len(split) > 64:
        raise UserError("the frame's split is not a short text")
    c2w = _floats(header.get("c2w"), 16, "c2w").reshape(4, 4)
    K = _floats(header.get("K"), 9, "K").reshape(3, 3)
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
    obj = _floats(ann.get("object_to_camera"), 16, "object_to_camera").reshape(4, 4)
    if convention == "opencv":
        c2w, obj = c2w @ OPENGL_FROM_OPENCV, OPENGL_FROM_OPENCV @ obj  # the camera's axes to OpenCV's
    params = header.get("params", {})
    if not isinstance(params, dict):
        raise UserError("the frame's params is not an object")
    return {
        "image": composite(image, background),
        "c2w": c2w,
        "K": K,
        "width": w,
        "height": h,
        "split": split,
        "index": _int(header, "index"),
        "seq": _int(header, "seq"),
        "instance": _int(header, "instance", 0, 1 << 20),
        "params": params,
        "control": _int(header, "control") if "control" in header else 0,
        "bbox": _floats(ann.get("bbox"), 4, "bbox"),
        "in_view": bool(ann.get("in_view") is True),
        "box_corners": _floats(ann.get("box_corners"), 16, "box_corners").reshape(8, 2),
        "keypoints": _floats(ann.get("keypoints"), 2 * k, "keypoints").reshape(k, 2),
        "keypoints_visible": np.asarray(visible, dtype=bool),
        "keypoint_names": list(names),
        "object_to_camera": obj,
    }


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
