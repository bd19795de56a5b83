"""What an engine is: the protocol every batch engine of the job contract follows, and what they share.

An engine takes a made job (``cloud.submit``) and starts some of its shards: it submits them (``sbatch``, AWS
Batch) or writes the file its own tools submit (``--emit``: a Slurm script, a Kubernetes manifest, a Google
Cloud Batch config). It says how its tasks are doing, cancels them, and names the variable each of its tasks
reads its shard from. Its own options are an option family (``core.options``), recorded in the job so that
``status``, ``--retry-missing`` and ``cancel`` need nothing but the job's location.

Each engine is one module of ``cloud/engines/`` with one ``ENGINE``, registered in ``cloud.engines.ENGINES``;
nothing else compares an engine's name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from ...app.dataset import RunOptions
from ...core.errors import UserError
from ...core.files import write_json_atomic
from ...core.layout import BACKEND_DIR
from ...core.options import Meta, OptionError, default_of
from ..s3 import S3Options
from ..words import IMAGE, is_mount_path

BUSY_STATES = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "SUBMITTED", "RUNNABLE", "STARTING")
"""A task in one of these will run, or runs: neither resubmitted nor replaced under it."""
QUIET_STATES = ("COMPLETED", "SUCCEEDED", "RUNNING", "PENDING", "SUBMITTED", "RUNNABLE", "STARTING")
"""States that need no explanation in ``status`` (the others show the task's last words)."""
RETRIES = default_of(RunOptions, "retries")
"""Restarts of a failed worker, as ``--retries`` takes them by default."""
EMITTED_LABEL = {"app.kubernetes.io/name": "nerf-dataset"}
"""The label of every manifest and config we emit: an emitted file replaces only one of ours."""


@dataclass
class Start:
    """How an engine starts a job's shards."""

    shards: list[int]
    """The job's shards to run: all of them, or the ones ``--retry-missing`` found missing."""
    options: object = None
    """The engine's options for this start: the job's own, or those typed for a retry."""
    emit: str | None = None
    """None: submit. ``""`` or a folder: only write the engine's file (a folder job's ``backend/`` by default)."""
    apply: bool = False
    """Emitting engines whose tool can submit (kubectl): submit the emitted file too."""
    retries: int = RETRIES
    """Engines that watch their workers themselves (local): restarts of a failed one."""
    progress: object = None

    def subset(self, spec) -> bool:
        return self.shards != list(range(spec.shards))


class Engine:
    """An engine's defaults; each engine module subclasses it and overrides what it does."""

    name = ""
    """``--backend NAME``, and what a job records."""
    label = ""
    """How messages and the panel name it: "Slurm", "AWS Batch"."""
    index_variable: str | None = None
    """The variable the engine sets in each task: its index, from which the worker takes its shard."""
    options: type | None = None
    """The engine's own option family (``core.options``), or None."""
    places = ("folder",)
    """Where its jobs may live: "folder" (a folder its tasks read and write), "s3" (a bucket)."""
    emits = ""
    """What ``--emit`` writes ("the array script"); empty: the engine refuses ``--emit``."""
    submits = True
    """It starts tasks itself; False: it only emits (its users' tools submit)."""
    applies = False
    """``--apply``: its tool submits the emitted file (``kubectl apply``)."""
    runs_here = False
    """Its workers run on this machine, under the submitting process (local): ``--retries`` is theirs."""
    panel = ""
    """The panel's Where item for it ("Slurm"); empty: not offered in the panel."""
    panel_help = ""
    persists_retry_options = False
    """Options typed for ``--retry-missing`` become the job's own (Slurm's) rather than this retry's only."""
    kept_on_retry: tuple[str, ...] = ()
    """Options a retry may not change: what finds the job's tasks (a Kubernetes Job's namespace and name)."""

    def record(self, opts, reach) -> dict:
        """What the job records of a submission (``JobSpec.options``): the engine's options under its name and
        how its workers reach the bucket (endpoint and region: never a profile or a key)."""
        if self.options is None:
            return {}
        return {self.name: opts.to_record(), "s3": (reach or S3Options()).to_dict()}

    def recorded(self, spec):
        """The engine's options back from the job's record (a damaged record is one sentence)."""
        if self.options is None:
            return None
        d = spec.options
        if not isinstance(d, dict) or set(d) != {self.name, "s3"}:
            raise UserError(f"the job's {self.options.FAMILY} options are damaged")
        S3Options.from_job(d["s3"])
        return self.options.from_record(d[self.name])

    def with_recorded(self, spec, opts):
        """A job's record with ``opts`` in place of the engine's options (a retry's that persist)."""
        return replace(spec, options={**spec.options, self.name: opts.to_record()})

    def folder_job(self, opts) -> bool:
        """Whether a job with these options lives in a folder (else in a bucket): the panel asks."""
        return "s3" not in self.places

    def prepare(self, opts, place):
        """The options with what the job's place decides filled in (a Job's name)."""
        return opts

    def check(self, place, opts, start: Start) -> None:
        """Before any planning or upload: what this engine cannot do with this job (one sentence)."""

    def start(self, place, spec, plan, start: Start) -> str:
        """Submit (or emit) ``start.shards`` of the job; one line for the user."""
        raise NotImplementedError

    def task_states(self, place, spec) -> dict[int, dict]:
        """{shard: {"state": the engine's word, "exit_code": int | None, "reason": str}} of the tasks it knows."""
        return {}

    def summary(self, place, spec) -> list[str]:
        """The engine's own summary lines for ``status`` (an AWS Batch array's counts)."""
        return []

    def cancel(self, place, spec) -> str:
        """Stop every task of the job with the engine's own cancel; one line for the user."""
        raise UserError(f"{self.label} jobs are not cancelled from here")


class ContainerEngine(Engine):
    """An engine whose tasks run the worker image (the top-level ``Dockerfile``) and that writes its file for its
    users' tools: the job in a bucket, or in a folder on the volume every task mounts (its ``volume`` option)."""

    places = ("folder", "s3")
    submits = False
    volume = ""
    """The option naming the volume a job folder lies on (``pvc``)."""

    def folder_job(self, opts) -> bool:
        return opts is not None and getattr(opts, self.volume) is not None

    def check(self, place, opts, start: Start) -> None:
        if place.kind == "folder" and not self.folder_job(opts):
            raise OptionError(self.volume, f"a job folder on {self.label} needs {{}}: the volume that holds it, which "
                              "every task mounts (or give --job s3://BUCKET/PREFIX)")  # fmt: skip
        emit_dir(place, start.emit)

    def worker_args(self, place, opts, cpus: str | None) -> list[str]:
        """The worker's arguments after the image's entrypoint: its job as the task sees it, its threads."""
        mounted = volume_path(place, opts.mount_path, self.folder_job(opts))
        return ["worker", *place.worker_args(mounted), *worker_threads(cpus)]

    def rerun_name(self, name: str, rerun: list[int]) -> str:
        """A rerun of some shards is a job of its own: its name, of the same family."""
        return f"{name[:48]}-{hashlib.sha256(str(rerun).encode()).hexdigest()[:8]}"


def merged(opts, typed: dict):
    """``opts`` with the options typed now in their place (those left out keep the job's)."""
    return replace(opts, **typed) if typed else opts


def emit_dir(place, emit: str | None) -> Path:
    """Where ``--emit`` writes: DIR, or the job folder's ``backend/``; a job in a bucket needs a DIR (nothing is
    written into the current folder unasked). Checked before any planning."""
    if emit:
        out = Path(emit).expanduser().absolute()
    elif place.kind != "folder":
        raise UserError("give --emit DIR: the manifest of a job in a bucket is written there")
    else:
        out = Path(place.location) / BACKEND_DIR
    if out.exists() and not out.is_dir():
        raise UserError(f"--emit {out} is a file; give a folder")
    if emit:  # it must take the file before anything is planned (a job folder's own is made with the job)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--emit {out} cannot be made: {exc.strerror or exc}") from None
    return out


def write_emitted(path: Path, doc: dict) -> Path:
    """An emitted file replaces only one we emitted before (same name: the same Job)."""
    if path.exists() and not _emitted_by_us(path):
        raise UserError(f"{path} exists and is not a manifest this tool wrote; not replacing it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_json_atomic(path, doc)
    except OSError as exc:
        raise UserError(f"--emit {path.parent}: {exc.strerror or exc}") from None


def _emitted_by_us(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            d = json.loads(f.read(1 << 20))
    except (OSError, ValueError, RecursionError):
        return False
    if not isinstance(d, dict):
        return False
    meta = d.get("metadata") if isinstance(d.get("metadata"), dict) else {}
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    ours = labels.get("app.kubernetes.io/name") == EMITTED_LABEL["app.kubernetes.io/name"]
    return ours or "taskGroups" in d


WORKER_IMAGE = Meta(
    "--image", "Image", "the worker image (built from this repository's Dockerfile)", "IMAGE", word=IMAGE,
    what="a container image reference (registry/name:tag)")  # fmt: skip
"""The container engines' worker image (the same flag for each)."""
MOUNT_PATH = Meta("--mount-path", "Mount Path", "where the volume is mounted", "PATH", panel="none")
"""Where a container engine mounts the job's volume (each its own default)."""


def check_mount_path(path: str) -> None:
    if not is_mount_path(path):
        raise OptionError("mount_path", f"{{}} {path!r} is not an absolute folder of plain names")


def volume_path(place, mount_path: str, mounted: bool) -> str | None:
    """Where a container sees a job folder that lies at the root of its volume (None: not on a volume)."""
    return f"{mount_path}/{Path(place.location).name}" if mounted and place.kind == "folder" else None


def default_name(place) -> str:
    """A name for an engine's job that is the same for every submission of one job location (status and cancel
    find it; two locations never share one)."""
    where = Path(place.location).resolve() if place.kind == "folder" else place  # however the folder is spelled
    return "nerf-dataset-" + hashlib.sha256(str(where).encode()).hexdigest()[:10]


def worker_threads(cpu: str | None) -> list[str]:
    """A container sees all of the node's cores whatever its limit: render with the cores it was given."""
    if cpu and cpu.isdigit() and int(cpu) >= 1:
        return ["--threads", cpu]
    if cpu and cpu.endswith("m") and cpu[:-1].isdigit() and int(cpu[:-1]) >= 1000:
        return ["--threads", str(int(cpu[:-1]) // 1000)]
    return []
