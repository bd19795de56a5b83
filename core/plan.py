"""The view plan: every view's split, index, frame, pose and image file, computed once from the settings.

Rendering, the exporters and (later) workers, shards and resume all read the saved plan, so a dataset
is the same however it was rendered. The plan is saved as ``.nerf_dataset/plan.json`` under the
output folder: a hidden folder that no consumer globs for ``*.json`` frames.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from .camera import Intrinsics, Optics, Raster, horizontal_optics, intrinsics_from_optics
from .dataset_rig import RigCameras
from .errors import UserError
from .framing import bounding_sphere, fit_radius
from .layout import PLAN_FILE
from .passes import passes_missing
from .plan_checks import FIRST_FRAME, check_plan
from .rigs import SPLITS, orbit_directions, poses_from_directions
from .settings import SettingError, Settings, check_downscales, check_size
from .strict_json import strict_json

PLAN_VERSION = 1
MAX_PLAN_BYTES = 256 << 20  # 100 000 views take about 40 MiB
# The LLFF convention for held-out views of a captured sequence: every 8th frame.
HOLDOUT_EVERY = 8


@dataclass(frozen=True)
class SceneFacts:
    """What the plan needs to know about the scene, read from Blender (or written by a test)."""

    target: str
    bounds_min: tuple[float, float, float]
    """World-space axis-aligned bounds of the target's evaluated geometry."""
    bounds_max: tuple[float, float, float]
    scene_bounds_min: tuple[float, float, float]
    """World-space bounds of every visible mesh (sets instant-ngp's ``aabb_scale``)."""
    scene_bounds_max: tuple[float, float, float]
    optics: Optics
    raster: Raster
    target_radius: float = 0.0
    """Largest distance from the centre of the target's bounds to one of its vertices (0 = use the box's corner)."""
    engine: str = "CYCLES"
    """The scene's render engine (``core.settings.ENGINES`` names)."""
    unit: str = "m"
    """What one scene unit is, for ``depth_unit``: "m" in a metric scene at scale 1."""
    fps: float = 24.0
    flythrough_name: str = ""
    """``--camera-path-from``: the animated camera whose path becomes a nerfstudio camera path."""
    flythrough: tuple[tuple[int, tuple[float, ...], float], ...] = ()
    """(frame, row-major 4x4 camera-to-world, vertical field of view in degrees) per frame of it."""
    camera_path: tuple[tuple[int, tuple[float, ...]], ...] = ()
    """For the ``camera`` rig: (scene frame, row-major 4x4 camera-to-world) of each frame of the scene camera."""
    camera_optics: tuple[Optics, ...] = ()
    """For the ``camera`` rig: the scene camera's optics at each frame of ``camera_path``, where any frame's
    differ from ``optics`` (the user animated the lens, sensor or shift); empty when every frame has ``optics``."""
    source: str = ""
    """What the scene was opened from (``app.pipeline.source_identity``): resume and shards must open the same."""
    geometry: str = ""
    """``geometry_fingerprint`` of the target as planned: resume and shards must find the same object."""
    surroundings: str = ""
    """A digest of the rest of what the renders see (other meshes, lights, the world): it must not change either."""
    cameras: str = ""
    """For the ``dataset`` rig, ``cameras_digest`` of the source's cameras: a resume must find the same ones."""


@dataclass(frozen=True)
class View:
    split: str
    index: int
    """Index within its split: the ``i`` of ``r_<i>.png``."""
    frame: int
    """Frame of the rig camera's animation that shows this view."""
    image: str
    """Rendered image, relative to the output folder, POSIX separators."""
    c2w: tuple[tuple[float, ...], ...]
    """Camera-to-world, OpenGL camera axes (see ``core.conventions``), rows."""
    source_frame: int | None = None
    """For the ``camera`` rig, the frame of the user's camera this view copies."""
    intrinsics: Intrinsics | None = None
    """This view's own intrinsics, in a plan whose views differ (an animated lens); None: the plan's."""
    source_name: str | None = None
    """For the ``dataset`` rig, the image name the source dataset gives this view."""

    def c2w_array(self) -> np.ndarray:
        return np.array(self.c2w, dtype=float)


@dataclass(frozen=True)
class Plan:
    settings: Settings
    scene: SceneFacts
    intrinsics: Intrinsics
    center: tuple[float, float, float]
    radius: float
    views: tuple[View, ...]
    version: int = PLAN_VERSION
    notes: tuple[str, ...] = field(default=())

    def split(self, name: str) -> list[View]:
        return [v for v in self.views if v.split == name]

    def intrinsics_of(self, view: View) -> Intrinsics:
        return view.intrinsics or self.intrinsics

    @property
    def per_view_intrinsics(self) -> bool:
        """Whether the views' intrinsics differ: only formats that hold them per view can take the dataset."""
        return any(v.intrinsics is not None for v in self.views)

    def to_json(self) -> str:
        d = asdict(self)
        # Fields that are empty unless intrinsics vary are left out: a plan without them prints the bytes it
        # printed before they existed, so older datasets still resume and compare equal.
        for key in ("camera_optics", "cameras"):
            if not d["scene"][key]:
                del d["scene"][key]
        for v in d["views"]:
            for key in ("intrinsics", "source_name"):
                if v[key] is None:
                    del v[key]
        return json.dumps(d, indent=1, sort_keys=True, allow_nan=False) + "\n"

    @staticmethod
    def from_json(text: str) -> Plan:
        d = strict_json(text, bounded_ints=True)  # no NaN, infinity or 400-digit frame gets past the read
        if not isinstance(d, dict):
            raise ValueError("not a plan")
        if d.get("version") != PLAN_VERSION:
            raise UserError(f"plan version {d.get('version')} is not supported (expected {PLAN_VERSION})")
        settings = Settings.from_dict(d["settings"])
        sc = d["scene"]
        scene = SceneFacts(
            **{
                **sc,
                "optics": Optics(**sc["optics"]),
                "raster": Raster(**sc["raster"]),
                "camera_path": tuple((f, tuple(m)) for f, m in sc["camera_path"]),
                "flythrough": tuple((f, tuple(m), fov) for f, m, fov in sc.get("flythrough", ())),
                "camera_optics": tuple(Optics(**o) for o in sc.get("camera_optics", ())),
                **{k: tuple(sc[k]) for k in ("bounds_min", "bounds_max", "scene_bounds_min", "scene_bounds_max")},
            }
        )
        views = tuple(View(**{**v, "c2w": tuple(tuple(r) for r in v["c2w"]), **_own(v)}) for v in d["views"])
        intr = Intrinsics(**d["intrinsics"])
        plan = Plan(
            settings=settings,
            scene=scene,
            intrinsics=intr,
            center=tuple(d["center"]),
            radius=d["radius"],
            views=views,
            version=d["version"],
            notes=tuple(d["notes"]),
        )
        if not (isinstance(d["notes"], list) and isinstance(d["center"], list)):
            raise ValueError("its notes or centre are not lists")
        check_plan(plan)
        return plan


def geometry_fingerprint(vertices: np.ndarray, triangles: np.ndarray) -> str:
    """A short digest of a world-space mesh (positions to 1e-6): equal for the same object in any process."""
    v = np.round(np.asarray(vertices, dtype=np.float64), 6) + 0.0
    t = np.asarray(triangles, dtype=np.int64)
    return hashlib.sha256(v.tobytes() + t.tobytes()).hexdigest()[:16]


def _own(v: dict) -> dict:
    return {"intrinsics": Intrinsics(**v["intrinsics"])} if v.get("intrinsics") is not None else {}


def _clean(x: float) -> float:
    # Rounding keeps the JSON free of last-bit noise and "-0.0", so equal plans print equal bytes.
    return round(float(x), 12) + 0.0


def _rows(c2w: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(_clean(v) for v in row) for row in np.asarray(c2w, dtype=float))


ImageNamer = Callable[[str, int], PurePosixPath]


def dataset_optics(settings: Settings, optics: Optics, raster: Raster) -> tuple[Optics, Raster]:
    """The scene camera's optics and raster with the settings' overrides (resolution, lens) applied."""
    if settings.resolution is not None:
        raster = Raster(*settings.resolution, raster.pixel_aspect_x, raster.pixel_aspect_y)
    if settings.lens is not None:
        optics = Optics(**{**asdict(optics), "lens_mm": settings.lens})
    return optics, raster


def orbit_radius(settings: Settings, intr: Intrinsics, sphere_radius: float) -> float:
    """The asked radius, or the one that fits the target's bounding sphere in view."""
    return settings.radius if settings.radius is not None else fit_radius(intr, sphere_radius)


def build_plan(settings: Settings, scene: SceneFacts, image_for: ImageNamer, cameras: RigCameras | None = None) -> Plan:
    """The plan for ``settings`` on ``scene``; ``image_for(split, index)`` names each view's image file.
    ``cameras``: the ``dataset`` rig's (``core.dataset_rig.load_rig_cameras``). A plan that its own reading back
    would refuse (a camera Blender cannot render as planned) is refused here, before anything renders."""
    plan = _build_plan(settings, scene, image_for, cameras)
    try:
        check_plan(plan)
    except ValueError as exc:
        raise UserError(f"the scene's camera cannot be rendered as planned: {exc}") from None
    return plan


def _build_plan(settings: Settings, scene: SceneFacts, image_for: ImageNamer, cameras: RigCameras | None) -> Plan:
    if settings.rig == "dataset":
        _check_passes(settings, scene)
        return _dataset_plan(settings, scene, image_for, cameras)
    optics, raster = dataset_optics(settings, scene.optics, scene.raster)
    check_size((raster.width, raster.height), "the scene's resolution at its percentage")
    check_downscales((raster.width, raster.height), settings.downscales)
    own = tuple(dataset_optics(settings, o, raster)[0] for o in scene.camera_optics)
    scene = SceneFacts(**{**_shallow(scene), "optics": optics, "raster": raster, "camera_optics": own})
    intr = intrinsics_from_optics(optics, raster)
    _check_passes(settings, scene)
    center, sphere_r = bounding_sphere(scene.bounds_min, scene.bounds_max)
    if scene.target_radius > 0:
        sphere_r = min(sphere_r, scene.target_radius)
    notes: list[str] = []
    per_frame: dict[int, Intrinsics] = {}
    if settings.rig == "camera":
        poses = _camera_rig_poses(settings, scene)
        per_frame = _frame_intrinsics(scene)
        if len(set(per_frame.values())) == 1:  # animated, yet the same on every frame: one camera after all
            intr, per_frame = next(iter(per_frame.values())), {}
            scene = SceneFacts(**{**_shallow(scene), "optics": scene.camera_optics[0], "camera_optics": ()})
        radius = float(np.median([np.linalg.norm(m[:3, 3] - center) for _, m in sum(poses.values(), [])] or [0.0]))
    else:
        radius = orbit_radius(settings, intr, sphere_r)
        if radius <= sphere_r:
            notes.append(f"orbit radius {radius:.3g} is inside the target's bounding sphere ({sphere_r:.3g})")
        dirs = orbit_directions(settings.rig_spec(), settings.orbit_counts(), settings.seed)
        poses = {s: [(None, m) for m in poses_from_directions(dirs[s], center, radius)] for s in SPLITS}
    views = []
    frame = FIRST_FRAME
    for split in SPLITS:
        for index, (source_frame, c2w) in enumerate(poses[split]):
            image = str(image_for(split, index))
            views.append(View(split, index, frame, image, _rows(c2w), source_frame, per_frame.get(source_frame)))
            frame += 1
    if per_frame:  # the plan-wide intrinsics are the first view's (its size is every view's)
        intr = views[0].intrinsics if views else intr
    if not views:
        raise SettingError("train", "the plan has no views: give {} or the other splits a positive count")
    if not all(np.isfinite(v.c2w).all() for v in views) or not np.isfinite([intr.fl_x, intr.fl_y, radius]).all():
        raise SettingError("radius", f"{{}} {radius:g} places no camera that can see the target")
    return Plan(
        settings=settings,
        scene=scene,
        intrinsics=intr,
        center=tuple(_clean(c) for c in center),
        radius=_clean(radius),
        views=tuple(views),
        notes=tuple(notes),
    )


def _renders(optics: Optics, raster: Raster, intr: Intrinsics) -> bool:
    """Whether ``optics`` already render ``intr``: the scene camera of a dataset rendered again keeps its own
    sensor fit, so Blender forms the very same view plane, to the last bit, as it did the first time."""
    mine = intrinsics_from_optics(optics, raster)
    tol = 1e-9 * max(intr.w, intr.h)
    return all(abs(getattr(mine, k) - getattr(intr, k)) <= tol for k in ("fl_x", "fl_y", "cx", "cy"))


def cameras_digest(cameras: RigCameras) -> str:
    """A short digest of the dataset rig's cameras as planned (splits, names, poses, intrinsics to 1e-9)."""
    h = hashlib.sha256()
    for v in cameras.views:
        i = v.intrinsics
        numbers = np.round(np.r_[v.c2w.ravel(), i.w, i.h, i.fl_x, i.fl_y, i.cx, i.cy], 9) + 0.0
        h.update(f"{v.split}\0{v.name}\0".encode("utf-8", "surrogateescape") + numbers.tobytes())
    return h.hexdigest()[:16]


def _check_passes(settings: Settings, scene: SceneFacts) -> None:
    engine = settings.engine or scene.engine
    missing = passes_missing(settings.passes, engine)
    if missing:
        raise SettingError(
            "engine", f"the {missing[0]} pass needs Cycles; {engine} does not render it (set {{}} to CYCLES)"
        )


def _dataset_plan(settings: Settings, scene: SceneFacts, image_for: ImageNamer, cameras: RigCameras | None) -> Plan:
    """The source's views as they are: its splits and order, poses and intrinsics; the scene's camera gives only
    its clipping (and a sensor wide enough for the shortest focal length, see ``horizontal_optics``)."""
    if cameras is None:
        raise SettingError("cameras_from", "{rig} dataset needs the cameras of {}")
    raster = cameras.raster
    check_size((raster.width, raster.height), "the source's image size")
    check_downscales((raster.width, raster.height), settings.downscales)
    intrs = [v.intrinsics for v in cameras.views]
    first = intrs[0]
    narrowest = min(i.fl_x / i.w for i in intrs)
    like = Optics(**{**asdict(scene.optics), "sensor_width_mm": max(scene.optics.sensor_width_mm, 1.01 / narrowest)})
    own = len(set(intrs)) > 1
    optics = (
        scene.optics if not own and _renders(scene.optics, raster, first) else horizontal_optics(first, raster, like)
    )
    digest = cameras_digest(cameras)
    scene = SceneFacts(
        **{**_shallow(scene), "optics": optics, "raster": raster, "camera_optics": (), "cameras": digest}
    )
    center, _ = bounding_sphere(scene.bounds_min, scene.bounds_max)
    views, frame = [], FIRST_FRAME
    for split in SPLITS:
        for index, v in enumerate(s for s in cameras.views if s.split == split):
            image = str(image_for(split, index))
            views.append(View(split, index, frame, image, _rows(v.c2w), None, v.intrinsics if own else None, v.name))
            frame += 1
    radius = float(np.median([np.linalg.norm(v.c2w_array()[:3, 3] - center) for v in views]))
    if not np.isfinite(radius):
        raise SettingError("cameras_from", "{} places cameras at distances no render can have")
    return Plan(
        settings=settings,
        scene=scene,
        intrinsics=first,
        center=tuple(_clean(c) for c in center),
        radius=_clean(radius),
        views=tuple(views),
        notes=cameras.notes,
    )


def _shallow(obj) -> dict:
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


def _frame_intrinsics(scene: SceneFacts) -> dict[int, Intrinsics]:
    """{source frame: intrinsics} of the scene camera's frames (the settings' lens already applied); empty
    when the user's camera keeps ``scene.optics`` on every frame."""
    if not scene.camera_optics:
        return {}
    frames = [f for f, _ in scene.camera_path]
    return {f: intrinsics_from_optics(o, scene.raster) for f, o in zip(frames, scene.camera_optics, strict=True)}


def _camera_rig_poses(settings: Settings, scene: SceneFacts) -> dict[str, list]:
    frames = [(f, np.array(m, dtype=float).reshape(4, 4)) for f, m in scene.camera_path]
    picks = camera_rig_split(settings, len(frames))
    return {s: [frames[i] for i in sorted(picks[s])] for s in SPLITS}


def camera_rig_split(settings: Settings, n: int) -> dict[str, list[int]]:
    """Which of the camera's ``n`` frames go to each split: the asked counts spread evenly, or (no count
    given) every 8th frame held out for test and the ones halfway between for val."""
    if n == 0:
        raise SettingError("rig", "{} camera needs a scene camera and a frame range with at least one frame")
    if not settings.counts_given():
        picks = {
            "test": [i for i in range(n) if i % HOLDOUT_EVERY == 0 and n > 1],
            "val": [i for i in range(n) if i % HOLDOUT_EVERY == HOLDOUT_EVERY // 2],
        }
        taken = set(picks["test"]) | set(picks["val"])
        picks["train"] = [i for i in range(n) if i not in taken]
    else:
        counts = {k: getattr(settings, k) or 0 for k in SPLITS}
        if sum(counts.values()) > n:
            raise SettingError(
                "rig", f"{{}} camera has {n} frames, fewer than the {sum(counts.values())} views asked for"
            )
        free = list(range(n))
        picks = {}
        for split in ("test", "val", "train"):
            chosen = _evenly(free, counts[split])
            picks[split] = chosen
            free = [i for i in free if i not in set(chosen)]
    return picks


def _evenly(items: list[int], k: int) -> list[int]:
    if k <= 0:
        return []
    idx = np.linspace(0, len(items) - 1, k) if k > 1 else np.array([0])
    return [items[int(round(i))] for i in idx]


def check_formats_hold(plan: Plan, formats: dict) -> None:
    """Refuse, before anything renders, a format whose loaders would misread these cameras: one that holds
    one intrinsics for all views (``Format.holds_view_intrinsics``) when the views' differ or pixels are
    not square."""
    r = plan.scene.raster
    why = (
        "its views' intrinsics differ (the source's cameras do)"
        if plan.per_view_intrinsics and plan.settings.rig == "dataset"
        else "its views' intrinsics differ (the camera's lens, sensor or shift is animated)"
        if plan.per_view_intrinsics
        else f"its pixels are not square (pixel aspect {r.pixel_aspect_x:g}:{r.pixel_aspect_y:g})"
        if r.pixel_aspect_x != r.pixel_aspect_y
        else None
    )
    cannot = [n for n in plan.settings.formats if not formats[n].holds_view_intrinsics]
    if why and cannot:
        can = [n for n, f in formats.items() if f.holds_view_intrinsics]
        raise SettingError(
            "formats",
            f"{{}} {cannot[0]} cannot hold this dataset: {why}, and its loaders read one camera_angle_x with "
            f"square pixels; use {', '.join(can)}",
        )


def save_plan(plan: Plan, out_dir: Path) -> Path:
    from .files import write_text_atomic

    return write_text_atomic(Path(out_dir) / PLAN_FILE, plan.to_json())


def load_plan(out_dir: Path) -> Plan:
    """The saved plan; an unreadable, truncated or edited one is one ``UserError`` sentence."""
    path = Path(out_dir) / PLAN_FILE
    try:
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise UserError(
                f"{path} is larger than any plan this tool writes ({MAX_PLAN_BYTES >> 20} MiB); refusing it"
            )
        return Plan.from_json(path.read_text())
    except UserError:
        raise
    except OSError as exc:
        raise UserError(f"{path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        why = " ".join(str(exc).split())[:80]
        raise UserError(
            f"{path} is damaged ({type(exc).__name__}: {why}); this tool cannot tell which views are done "
            "or which files are its own: start again in another folder, or restore the file"
        ) from None
