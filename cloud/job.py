"""A job: one folder that is a worker's whole input, on any engine.

The job folder is a planned dataset folder (``.nerf_dataset/plan.json``, images where the plan says) plus
``.nerf_dataset/job.json`` (format version, shard count, the plan's digest, the target's objects),
``.nerf_dataset/scene.blend`` (the scene with everything it references packed in) and the surface points'
tracks. Workers render into it; ``collect`` finalises it, here or into another folder, without Blender.
A job is read as hostile input: bounded reads, regular files inside the folder only, and a plan whose digest
does not match is refused.
"""

from __future__ import annotations

import errno
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..app.dataset import TracksDamaged
from ..app.ownership import saved_plan
from ..core.errors import UserError
from ..core.files import write_json_atomic
from ..core.layout import JOB_FILE, PLAN_FILE, SCENE_FILE, TRACKS_FILE
from ..core.plan import MAX_PLAN_BYTES, Plan
from ..core.settings import SettingError

JOB_FORMAT = 2
"""1: the first; 2: with the packed scene's size and sha256 (``JobSpec.scene``). Format 1 is still read."""
MAX_JOB_BYTES = 1 << 20
MAX_SCENE_BYTES = 64 << 30
"""A packed scene larger than this is no job's: a record that says so is damaged."""
# Engines whose arrays always number from 0 (AWS Batch, Kubernetes) rerun a subset of shards as a smaller
# array with this list ("1,3,5-7"): task i renders the list's i-th shard. Slurm numbers them itself.
SHARD_LIST_VARIABLE = "NERF_DATASET_SHARDS"


@dataclass(frozen=True)
class JobSpec:
    shards: int
    digest: str
    """sha256 of ``plan.json`` as submitted."""
    target: str
    objects: tuple[str, ...]
    """The target's objects by name, exactly as the submitter picked them."""
    backend: str = "local"
    options: dict = field(default_factory=dict)
    """The engine's settings of the submission (partition, time limit...), for status and --retry-missing."""
    format: int = JOB_FORMAT
    scene: dict | None = None
    """``{"size", "sha256"}`` of ``scene.blend`` as submitted (format 2; None in a format-1 job): a worker
    downloads exactly that many bytes of it, and renders only that scene."""
    kind = "scene"
    """Not a field (a scene's job file has none): a collection's job says ``"kind": "collection"``."""


def scene_record(job_dir: Path) -> dict:
    """The record of the job's packed scene, as a submission writes it into ``JobSpec.scene``."""
    from ..core.files import sha256_of

    path = Path(job_dir) / SCENE_FILE
    return {"size": path.stat().st_size, "sha256": sha256_of(path)}


def plan_digest(job_dir: Path) -> str:
    path = Path(job_dir) / PLAN_FILE
    if path.stat().st_size > MAX_PLAN_BYTES:
        raise UserError(f"job {job_dir}: {PLAN_FILE} is larger than any plan this tool writes; refusing it")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tracks_damaged(job) -> TracksDamaged:
    """The refusal of a collect whose job's tracks are missing or damaged, saying what mends them."""
    return TracksDamaged(errno.ENOENT, "the job's surface points' tracks are missing or damaged; its next worker "
                         f"samples them again (cli.py submit --retry-missing --job {job} starts one)",
                         f"{job}/{TRACKS_FILE}")  # fmt: skip


def check_shards(shards: int, views: int) -> None:
    """Each shard renders at least one view: an array child with nothing to do is a task billed for nothing."""
    if shards > views:
        raise SettingError("shards", f"{{}} {shards} is more than the plan's {views} views; give at most {views}")


def write_job(job_dir: Path, spec: JobSpec) -> Path:
    return write_json_atomic(Path(job_dir) / JOB_FILE, asdict(spec))


def inside(job_dir: Path, rel: str) -> Path:
    """``job_dir/rel`` as a regular file that really lies in the job folder (no link or ``..`` out of it)."""
    root = Path(job_dir).resolve()
    path = (root / rel).resolve()
    if root not in path.parents or not path.is_file() or (root / rel).is_symlink():  # we make no link: a stranger's
        raise UserError(f"job {job_dir}: {rel} is missing, or not a file inside the job folder")
    return path


PLACE_WORDS = {"folder": "a folder", "s3": "a bucket"}


def read_job(job_dir: Path, engines: Mapping, need_scene: bool = True, kind: str = "folder") -> tuple[JobSpec, Plan]:
    """The job's spec and plan, checked: version, shape (its back-end one of ``engines``, one that takes a job
    of this ``kind`` of place: the folder itself, or a bucket's downloaded into it), files inside the folder,
    the plan's digest (``status`` and ``collect`` of a job in a bucket need no scene)."""
    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        raise UserError(f"--job {job_dir} is not a folder")
    path = inside(job_dir, JOB_FILE)
    with open(path, "rb") as f:
        raw = f.read(MAX_JOB_BYTES + 1)
    try:
        if len(raw) > MAX_JOB_BYTES:
            raise JobShapeError("larger than any job file")
        d = json.loads(raw)
        version = d.get("format") if isinstance(d, dict) else None
        if type(version) is int and version > JOB_FORMAT:
            raise UserError(
                f"job {job_dir} needs job format {version}; this worker reads format {JOB_FORMAT} and older: "
                "install the add-on version that made the job"
            )
        spec = _spec(d, engines)
    except UserError:
        raise
    except ValueError as exc:
        why = str(exc) if isinstance(exc, JobShapeError) else "not JSON"
        raise UserError(f"job {job_dir}: {JOB_FILE} is damaged ({why})") from None
    except (TypeError, KeyError, RecursionError) as exc:
        raise UserError(f"job {job_dir}: {JOB_FILE} is damaged ({type(exc).__name__})") from None
    if kind not in engines[spec.backend].places:
        takers = ", ".join(name for name, e in engines.items() if kind in e.places)
        raise UserError(f"job {job_dir}: a job in {PLACE_WORDS[kind]} runs on {takers}, not {spec.backend}")
    for rel in (PLAN_FILE, SCENE_FILE) if need_scene else (PLAN_FILE,):
        inside(job_dir, rel)
    if need_scene and spec.scene is not None and (job_dir / SCENE_FILE).stat().st_size != spec.scene["size"]:
        raise UserError(f"job {job_dir}: {SCENE_FILE} is not the scene the job was submitted with; refusing it")
    if (job_dir / TRACKS_FILE).exists():
        inside(job_dir, TRACKS_FILE)
    if plan_digest(job_dir) != spec.digest:
        raise UserError(f"job {job_dir}: the plan does not match the digest it was submitted with; refusing it")
    plan = saved_plan(job_dir)
    if spec.shards > len(plan.views):
        raise UserError(f"job {job_dir}: {JOB_FILE} is damaged (its {spec.shards} shards are more than the "
                        f"plan's {len(plan.views)} views)")  # fmt: skip
    return spec, plan


class JobShapeError(ValueError):
    """What no submitter writes into a job file, said in a few words."""


def _spec(d, engines: Collection[str]) -> JobSpec:
    """A ``JobSpec`` from JSON, every field of the type and range a submitter writes (``JobShapeError`` if not)."""
    fields = {f for f in JobSpec.__dataclass_fields__} - ({"scene"} if d.get("format") == 1 else set())
    if not isinstance(d, dict) or set(d) != fields:
        raise JobShapeError("not the fields of a job")
    if not (isinstance(d["backend"], str) and d["backend"] in engines):
        raise JobShapeError(f"its back-end {str(d['backend'])[:40]!r} is not one this version knows")
    objects = d["objects"]
    checks = [
        type(d["format"]) is int and 1 <= d["format"] <= JOB_FORMAT,
        type(d["shards"]) is int and 1 <= d["shards"] <= 100_000,
        isinstance(d["digest"], str) and len(d["digest"]) == 64,
        isinstance(d["target"], str) and 0 < len(d["target"]) < 1024,
        isinstance(objects, list) and 0 < len(objects) < 100_000,
        isinstance(objects, list) and all(isinstance(o, str) and 0 < len(o) < 1024 for o in objects),
        isinstance(d["options"], dict),
        d["format"] == 1 or _scene_record(d["scene"]),
    ]
    if not all(checks):
        raise JobShapeError("a field of the wrong type or range")
    return JobSpec(**{**d, "objects": tuple(objects)})


def _scene_record(scene) -> bool:
    return (
        isinstance(scene, dict)
        and set(scene) == {"size", "sha256"}
        and type(scene["size"]) is int
        and 0 < scene["size"] <= MAX_SCENE_BYTES
        and isinstance(scene["sha256"], str)
        and len(scene["sha256"]) == 64
    )


def shard_list_text(shards: list[int]) -> str:
    """``[1, 3, 5, 6, 7]`` -> ``"1,3,5-7"``."""
    parts, start = [], None
    for i, s in enumerate(shards):
        if start is None:
            start = s
        if i + 1 == len(shards) or shards[i + 1] != s + 1:
            parts.append(str(start) if start == s else f"{start}-{s}")
            start = None
    return ",".join(parts)
