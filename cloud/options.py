"""Each back-end's command-line options, checked into the dict a job records (``spec.options``)."""

from __future__ import annotations

import shlex
from dataclasses import asdict

from ..core.errors import UserError
from .s3 import S3Options


def add_s3_options(p) -> None:
    g = p.add_argument_group("object storage (a job in s3://...)")
    g.add_argument("--endpoint-url", metavar="URL", help="an S3-compatible store (MinIO, Ceph); default AWS")
    g.add_argument("--region", metavar="NAME", help="the bucket's region (default: the AWS configuration's)")
    g.add_argument("--profile", metavar="NAME", help="a profile of ~/.aws/config (default: the standard chain)")


def s3_options(a) -> S3Options:
    return S3Options(a.endpoint_url, a.region, a.profile)


def add_backend_options(p) -> None:
    slurm = p.add_argument_group("slurm")
    slurm.add_argument("--partition", metavar="NAME")
    slurm.add_argument("--time", metavar="LIMIT", help="time limit per task, as sbatch takes it (2:00:00)")
    slurm.add_argument("--cpus-per-task", type=int, metavar="N")
    slurm.add_argument("--mem", metavar="SIZE", help="memory per task, as sbatch takes it (4G)")
    slurm.add_argument("--max-running", type=int, metavar="M", help="at most M tasks at once (--array=...%%M)")
    slurm.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG", help="an extra sbatch argument")
    slurm.add_argument("--worker-command", metavar="CMD", help="what runs cli.py on the nodes")
    aws = p.add_argument_group("aws-batch")
    aws.add_argument("--job-queue", metavar="Q", help="the AWS Batch job queue (name or ARN)")
    aws.add_argument("--job-definition", metavar="D", help="the job definition (name, name:revision or ARN)")
    aws.add_argument("--attempts", type=int, default=1, metavar="K", help="tries per child (retry strategy)")
    aws.add_argument("--vcpus", type=int, metavar="N", help="vCPUs per child (default: the definition's)")
    aws.add_argument("--memory", metavar="SIZE", help="memory per task: MiB for aws-batch, 8Gi for kubernetes")
    aws.add_argument("--job-name", default="nerf-dataset", metavar="NAME", help="the array job's name")
    k8s = p.add_argument_group("kubernetes and gcp-batch")
    k8s.add_argument("--image", metavar="IMAGE", help="the worker image (this repository's Dockerfile)")
    k8s.add_argument("--namespace", default="default", metavar="NS")
    k8s.add_argument("--k8s-name", metavar="NAME", help="the Job's name (default nerf-dataset-<digest>)")
    k8s.add_argument("--parallelism", type=int, metavar="N", help="tasks at once (default: all)")
    k8s.add_argument("--backoff-limit-per-index", type=int, default=2, metavar="N", help="retries per index")
    k8s.add_argument("--cpu", metavar="CPU", help="CPU per pod (4, 3500m)")
    k8s.add_argument("--secret", metavar="NAME", help="a Secret whose keys become the pods' environment "
                     "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): credentials never enter the manifest")  # fmt: skip
    k8s.add_argument("--pvc", metavar="CLAIM", help="a PersistentVolumeClaim holding the job folder at its root")
    k8s.add_argument("--mount-path", metavar="PATH", help="where the volume is mounted (/job; gcp /mnt/disks/job)")
    k8s.add_argument("--service-account", metavar="NAME", help="the pods' service account (IRSA, workload identity)")
    k8s.add_argument("--apply", action="store_true", help="kubectl apply the manifest (kubectl must be configured)")
    gcp = p.add_argument_group("gcp-batch")
    gcp.add_argument("--cpu-milli", type=int, metavar="N", help="CPU per task in thousandths (4000)")
    gcp.add_argument("--memory-mib", type=int, metavar="N", help="memory per task in MiB")
    gcp.add_argument("--max-retry-count", type=int, default=2, metavar="N", help="retries per task")
    gcp.add_argument("--max-run-duration", metavar="SECONDS", help="time limit per task (3600s)")
    gcp.add_argument("--secret-env", action="append", default=[], metavar="NAME=SECRET",
                     help="an environment variable from Secret Manager (projects/P/secrets/S/versions/V)")  # fmt: skip
    gcp.add_argument("--gcs-bucket", metavar="BUCKET", help="a Cloud Storage bucket holding the job folder")


# Each back-end's own flags (attribute, default): a flag typed for another back-end is refused, not ignored.
OWN_FLAGS = {
    "slurm": {"partition": None, "time": None, "cpus_per_task": None, "mem": None, "max_running": None,
              "sbatch_arg": [], "worker_command": None},
    "aws-batch": {"job_queue": None, "job_definition": None, "attempts": 1, "vcpus": None, "job_name": "nerf-dataset"},
    "kubernetes": {"namespace": "default", "k8s_name": None, "backoff_limit_per_index": 2, "cpu": None,
                   "secret": None, "pvc": None, "service_account": None, "apply": False},
    "gcp-batch": {"cpu_milli": None, "memory_mib": None, "max_retry_count": 2, "max_run_duration": None,
                  "secret_env": [], "gcs_bucket": None},
}  # fmt: skip
SHARED_FLAGS = {"memory": ("aws-batch", "kubernetes"), "image": ("kubernetes", "gcp-batch"),
                "parallelism": ("kubernetes", "gcp-batch"), "mount_path": ("kubernetes", "gcp-batch")}  # fmt: skip


def check_applicable(a, backend: str) -> None:
    """Every back-end option typed belongs to ``backend``."""
    for owner, flags in OWN_FLAGS.items():
        for name, default in flags.items():
            if owner != backend and getattr(a, name) != default:
                raise UserError(f"--{name.replace('_', '-')} is a {owner} option, not one of --backend {backend}")
    for name, owners in SHARED_FLAGS.items():
        if backend not in owners and getattr(a, name) is not None:
            raise UserError(f"--{name.replace('_', '-')} is an option of {' and '.join(owners)}, not of {backend}")


def slurm_options(a, saved: dict | None = None):
    """The Slurm options typed now; on --retry-missing, the job's own unless any is typed."""
    from .slurm import SlurmOptions

    typed = [a.partition, a.time, a.cpus_per_task, a.mem, a.max_running, a.worker_command, *a.sbatch_arg]
    if saved is not None and not any(v is not None and v != [] for v in typed):
        return SlurmOptions.from_dict(saved)
    try:
        command = tuple(shlex.split(a.worker_command)) if a.worker_command else ()
    except ValueError:
        raise UserError(f"--worker-command {a.worker_command!r} is not a command line") from None
    return SlurmOptions(a.partition, a.time, a.cpus_per_task, a.mem, a.max_running, tuple(a.sbatch_arg), command)


def default_name(location) -> str:
    """A Job name that is the same for every submission of one job location (status and cancel find it)."""
    import hashlib

    return "nerf-dataset-" + hashlib.sha256(str(location).encode()).hexdigest()[:10]


def backend_options(a, backend: str, s3: S3Options, location=None) -> dict:
    """The job's record of how it was submitted (checked here, so a bad value fails before any planning)."""
    if backend == "slurm":
        return asdict(slurm_options(a))
    if backend == "aws-batch":
        from .aws_batch import MAX_ARRAY, BatchOptions, job_options

        if not a.job_queue or not a.job_definition:
            raise UserError("--backend aws-batch needs --job-queue and --job-definition")
        memory = a.memory
        if memory is not None and not (memory.isascii() and memory.isdigit() and len(memory) < 9):
            raise UserError(f"--memory {memory!r}: AWS Batch takes MiB, a whole number (4096)")
        memory = None if memory is None else int(memory)
        batch = BatchOptions(a.job_queue, a.job_definition, a.attempts, a.vcpus, memory, a.job_name)
        if a.shards > MAX_ARRAY:
            raise UserError(f"AWS Batch arrays have at most {MAX_ARRAY} children; give --shards {MAX_ARRAY} or fewer")
        return job_options(batch, s3)
    if backend == "kubernetes":
        from .kubernetes import KubernetesOptions

        if not a.image:
            raise UserError("--backend kubernetes needs --image (built from this repository's Dockerfile)")
        k = KubernetesOptions(image=a.image, namespace=a.namespace, name=a.k8s_name or default_name(location),
                              parallelism=a.parallelism, backoff_limit_per_index=a.backoff_limit_per_index, cpu=a.cpu,
                              memory=a.memory, secret=a.secret, pvc=a.pvc, mount_path=a.mount_path or "/job",
                              service_account=a.service_account)  # fmt: skip
        return {"kubernetes": asdict(k), "s3": s3.to_dict()}
    if backend == "gcp-batch":
        from .gcp_batch import GcpBatchOptions

        if not a.image:
            raise UserError("--backend gcp-batch needs --image (built from this repository's Dockerfile)")
        secrets = {}
        for item in a.secret_env:
            name, sep, value = item.partition("=")
            if not sep:
                raise UserError("--secret-env takes NAME=projects/P/secrets/S/versions/V")
            secrets[name] = value
        g = GcpBatchOptions(image=a.image, cpu_milli=a.cpu_milli, memory_mib=a.memory_mib, parallelism=a.parallelism,
                            max_retry_count=a.max_retry_count, max_run_duration=a.max_run_duration,
                            secret_env=secrets, gcs_bucket=a.gcs_bucket,
                            mount_path=a.mount_path or "/mnt/disks/job")  # fmt: skip
        return {"gcp-batch": asdict(g), "s3": s3.to_dict()}
    return {}


def typed_batch_options(a, saved):
    """The AWS Batch options of a retry: the job's own, with any typed now in their place (this retry only)."""
    from dataclasses import replace

    typed = {k: getattr(a, k) for k, d in OWN_FLAGS["aws-batch"].items() if getattr(a, k) != d}
    if a.memory is not None:
        typed["memory"] = int(a.memory) if a.memory.isascii() and a.memory.isdigit() and len(a.memory) < 9 else -1
    return replace(saved, **typed) if typed else None
