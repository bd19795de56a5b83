"""Hand a made job to its engine: one function per back-end behind one call, for the CLI and the panel alike.

Every back-end's settings live in the job (``spec.options``), so ``--retry-missing``, ``cancel`` and the panel
act on a job with nothing but its location (and, for a bucket, how to reach it).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from ..core.errors import UserError
from ..core.layout import BACKEND_DIR
from .job import SHARD_LIST_VARIABLE, JobSpec, shard_list_text
from .location import S3Url
from .s3 import S3Options


def store_of(location: S3Url, s3: S3Options | None):
    """The job's bucket, reached as the user says now: never as the job says (a job in a bucket is anyone's
    file, and it must not send requests signed with the user's credentials to a host of its choosing)."""
    from .s3 import S3Store

    return S3Store(location, s3 or S3Options())


def worker_args(location, s3: S3Options | None, pod_job_dir: str | None = None) -> list[str]:
    """``cli.py``'s arguments for a worker in a container (the image's entrypoint is ``cli.py``)."""
    if isinstance(location, S3Url):
        return ["worker", "--job", str(location), *(s3 or S3Options()).worker_args()]
    return ["worker", "--job", pod_job_dir or str(location)]


def submit_made_job(location, made: Path, s3: S3Options | None = None, overwrite: bool = False,
                    emit: str | None = None, apply: bool = False, retries: int = 2, progress=None) -> str:  # fmt: skip
    """The second half of a submission, after ``submit.make_job`` made the job in ``made`` (Blender's part):
    upload it when the job lives in a bucket, then start every shard. No Blender: the panel runs it in a
    thread. Returns one line for the user."""
    from .job import read_job

    spec, plan = read_job(made)
    if not isinstance(location, S3Url):
        return hand_over(location, spec, plan, list(range(spec.shards)), s3, emit, apply, retries, progress)
    from .remote import remove_unsubmitted, upload_job

    store = store_of(location, s3)
    upload_job(made, store, overwrite)
    try:
        return hand_over(location, spec, plan, list(range(spec.shards)), s3, emit, apply, retries, progress)
    except BaseException:
        remove_unsubmitted(store)  # a queue typo leaves no job behind that blocks the next try
        raise


def retry_missing(location, s3: S3Options | None = None, emit: str | None = None, apply: bool = False,
                  retries: int = 2, progress=None, slurm=None, batch=None) -> str:  # fmt: skip
    """Start again only the shards with missing views that the engine is not running or about to run;
    ``slurm`` (SlurmOptions typed now) replaces the job's own for this and later retries, ``batch``
    (BatchOptions) the job's for this retry."""
    from dataclasses import asdict

    from .job import read_job, write_job
    from .status import job_status

    status = job_status(location, s3)
    spec = status.spec
    busy = [s.index for s in status.shards if s.busy]
    todo = [s.index for s in status.shards if s.missing and not s.busy]
    if not todo:
        return f"no shard to resubmit in {location} ({len(busy)} still pending or running)"
    plan = None
    if not isinstance(location, S3Url):
        if spec.backend == "slurm" and slurm is not None and asdict(slurm) != spec.options:
            write_job(location, type(spec)(**{**spec.__dict__, "options": asdict(slurm)}))
        spec, plan = read_job(location)
    return hand_over(location, spec, plan, todo, s3, emit, apply, retries, progress, batch)


def download(location, out: Path, s3: S3Options | None = None, overwrite: bool = False, progress=None) -> list[Path]:
    """``collect``: every view checked, the dataset written into ``out`` (downloaded first from a bucket)."""
    if isinstance(location, S3Url):
        from .remote import collect_remote

        return collect_remote(location, store_of(location, s3).options, out, overwrite, progress)
    from .collector import collect_job

    job, out = Path(location), Path(out)
    if out != job and (job.resolve() in out.resolve().parents or out.resolve() in job.resolve().parents):
        raise UserError(f"--out {out} and --job {job} must be the same folder, or neither inside the other")
    return collect_job(location, out, overwrite)


def hand_over(location, spec: JobSpec, plan, shards: list[int], s3: S3Options | None = None, emit: str | None = None,
              apply: bool = False, retries: int = 2, progress=None, batch=None) -> str:  # fmt: skip
    """Start ``shards`` of the job on its back-end (or, with ``emit``, only write the engine's files); returns
    one line for the user."""
    backend = spec.backend
    if backend == "local":
        from .local import run_workers

        run_workers(plan, location, spec.shards, retries, progress, shards)
        return f"rendered the shards of {location}; cli.py collect --job {location} finalises it"
    if backend == "slurm":
        from .slurm import SCRIPT, SlurmOptions
        from .slurm import submit as sbatch

        job_id = sbatch(location, shards, SlurmOptions.from_dict(spec.options), emit_only=emit is not None)
        return f"wrote {Path(location) / SCRIPT}" if emit is not None else f"submitted {job_id}"
    if backend == "aws-batch":
        from . import aws_batch

        if emit is not None:
            raise UserError("--emit writes a script or manifest for slurm, kubernetes and gcp-batch; AWS Batch "
                            "takes the job as submitted")  # fmt: skip
        opts = batch or aws_batch.options_of(spec)[0]
        return f"submitted {aws_batch.submit(store_of(location, s3), spec, shards, opts)}"
    if backend in ("kubernetes", "gcp-batch"):
        return _emit(location, spec, shards, s3, emit, apply)
    raise UserError(f"the job's back-end {backend!r} is not one this version knows")


def _emit(location, spec: JobSpec, shards: list[int], s3, emit: str | None, apply: bool) -> str:
    """Kubernetes and Google Cloud Batch jobs are written for the user's own tools (kubectl, gcloud)."""
    out = emit_dir(location, emit)
    opts = dict(spec.options.get(spec.backend) or {})
    recorded_s3 = store_of(location, s3).options if isinstance(location, S3Url) else None
    subset = shards != list(range(spec.shards))
    if spec.backend == "kubernetes":
        from . import kubernetes as k8s

        k_opts = k8s.KubernetesOptions.from_dict(opts)
        pod_dir = _volume_path(location, k_opts.mount_path) if k_opts.pvc else None
        args = worker_args(location, recorded_s3, pod_dir) + _threads(k_opts.cpu)
        family = k_opts.name
        if subset:  # a Job's name is unique: the rerun of some shards is a Job of its own, of the same family
            k_opts = replace(k_opts, name=f"{k_opts.name[:48]}-{_shards_tag(shards)}")
        manifest = k8s.manifest(args, len(shards), k_opts, family)
        if subset:
            _add_env(manifest["spec"]["template"]["spec"]["containers"][0], shards)
        path = _write(out / f"kubernetes-job-{k_opts.name}.json", manifest)
        if apply:
            return f"wrote {path}; {k8s.apply(path)}"
        return f"wrote {path}; kubectl apply -f {path} starts it"
    from . import gcp_batch

    g_opts = gcp_batch.GcpBatchOptions.from_dict(opts)
    pod_dir = _volume_path(location, g_opts.mount_path) if g_opts.gcs_bucket else None
    cpus = str(g_opts.cpu_milli // 1000) if g_opts.cpu_milli else None
    config = gcp_batch.config(worker_args(location, recorded_s3, pod_dir) + _threads(cpus), len(shards), g_opts)
    if subset:
        env = config["taskGroups"][0]["taskSpec"].setdefault("environment", {}).setdefault("variables", {})
        env[SHARD_LIST_VARIABLE] = shard_list_text(shards)
    name = f"nerf-dataset-{spec.digest[:10]}" + (
        f"-{hashlib.sha256(str(shards).encode()).hexdigest()[:8]}" if subset else ""
    )
    path = _write(out / f"gcp-batch-job-{name}.json", config)
    return f"wrote {path}; gcloud batch jobs submit {name} --location REGION --config {path} starts it"


def _shards_tag(shards: list[int]) -> str:
    return hashlib.sha256(str(shards).encode()).hexdigest()[:8]


def _threads(cpu: str | None) -> list[str]:
    """A container sees all of the node's cores whatever its limit: render with the cores it was given."""
    if cpu and cpu.isdigit() and int(cpu) >= 1:
        return ["--threads", cpu]
    if cpu and cpu.endswith("m") and cpu[:-1].isdigit() and int(cpu[:-1]) >= 1000:
        return ["--threads", str(int(cpu[:-1]) // 1000)]
    return []


def _volume_path(location, mount_path: str) -> str | None:
    """A job folder at the root of the volume, as the task sees it."""
    return None if isinstance(location, S3Url) else f"{mount_path}/{Path(location).name}"


def _add_env(container: dict, shards: list[int]) -> None:
    container.setdefault("env", []).append({"name": SHARD_LIST_VARIABLE, "value": shard_list_text(shards)})


def _emitted_by_us(path: Path) -> bool:
    import json

    try:
        with open(path, "rb") as f:
            d = json.loads(f.read(1 << 20))
    except (OSError, ValueError, RecursionError):
        return False
    if not isinstance(d, dict):
        return False
    labels = d.get("metadata", {}).get("labels", {}) if isinstance(d.get("metadata"), dict) else {}
    return (isinstance(labels, dict) and labels.get("app.kubernetes.io/name") == "nerf-dataset") or "taskGroups" in d


def emit_dir(location, emit: str | None) -> Path:
    """Where ``--emit`` writes: DIR, or the job folder's ``backend/``; a job in a bucket needs a DIR (nothing is
    written into the current folder unasked). Checked before any planning."""
    if emit:
        out = Path(emit).expanduser().absolute()
    elif isinstance(location, S3Url):
        raise UserError("give --emit DIR: the manifest of a job in a bucket is written there")
    else:
        out = Path(location) / BACKEND_DIR
    if out.exists() and not out.is_dir():
        raise UserError(f"--emit {out} is a file; give a folder")
    return out


def _write(path: Path, obj) -> Path:
    """An emitted file replaces only one we emitted before (same name: the same Job)."""
    from ..core.files import write_json_atomic

    if path.exists() and not _emitted_by_us(path):
        raise UserError(f"{path} exists and is not a manifest this tool wrote; not replacing it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_json_atomic(path, obj)
    except OSError as exc:
        raise UserError(f"--emit {path.parent}: {exc.strerror or exc}") from None


def cancel(location, s3: S3Options | None = None) -> str:
    """The engine's own cancel for every task of the job."""
    if isinstance(location, S3Url):
        store = store_of(location, s3)
        from .remote import read_spec

        spec = read_spec(store)
        store = store_of(location, s3)
    else:
        from .job import read_job

        spec, _ = read_job(location)
    if spec.backend == "aws-batch":
        from . import aws_batch

        ids = aws_batch.cancel(store)
        return f"cancelled {len(ids)} AWS Batch submission(s): {', '.join(ids)}" if ids else "nothing was submitted"
    if spec.backend == "slurm":
        from .slurm import cancel as scancel

        return scancel(location)
    if spec.backend == "kubernetes":
        from .kubernetes import KubernetesOptions
        from .kubernetes import cancel as kdelete

        return kdelete(KubernetesOptions.from_dict(spec.options.get("kubernetes") or {}))
    if spec.backend == "local":
        raise UserError("a local job stops with its submit command (Ctrl-C there)")
    raise UserError("a Google Cloud Batch job is cancelled with gcloud batch jobs delete NAME")
