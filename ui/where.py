"""Where the Render button sends the dataset: this computer, or a batch engine as a job (``cloud/``).

The Where choice and each engine's few settings live in ``scene.nerf_dataset`` beside the dataset's; so does
the job a submission made (its location and how to reach it), so a job outlives the Blender session. No
property holds a credential: they come only from the standard AWS chain (environment, profile, role); a
profile is stored by its *name*. Every value is checked by the option classes ``cli.py submit`` uses.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from ..core.errors import UserError

LOCAL, SLURM, AWS_BATCH, KUBERNETES = "LOCAL", "SLURM", "AWS_BATCH", "KUBERNETES"
WHERE_ITEMS = [
    (LOCAL, "This Computer", "Render here, in this Blender"),
    (SLURM, "Slurm", "A job array on a Slurm cluster (sbatch must run here); the Output folder is the job folder, "
     "on a filesystem every node reads"),
    (AWS_BATCH, "AWS Batch", "An array job on AWS Batch; the job lives in an S3 bucket"),
    (KUBERNETES, "Kubernetes (emit)", "Write a Kubernetes Indexed Job manifest, for kubectl apply"),
]  # fmt: skip
BACKENDS = {SLURM: "slurm", AWS_BATCH: "aws-batch", KUBERNETES: "kubernetes"}
ENGINE_NAMES = {"slurm": "Slurm", "aws-batch": "AWS Batch", "kubernetes": "Kubernetes", "local": "this computer",
                "gcp-batch": "Google Cloud Batch"}  # fmt: skip
# The option classes word their refusals with the CLI's flags; the panel names its own labels instead.
FLAG_LABELS = {
    "--backend aws-batch": "AWS Batch", "--backend kubernetes": "Kubernetes", "--partition": "Partition",
    "--time": "Time Limit", "--job-queue": "Job Queue", "--job-definition": "Job Definition",
    "--attempts": "Attempts", "--endpoint-url": "Endpoint URL", "--region": "Region", "--profile": "AWS Profile",
    "--image": "Image", "--namespace": "Namespace", "--secret": "Secret", "--pvc": "PVC", "--overwrite": "Overwrite",
    "--out": "Output Folder", "--job": "The job",
}  # fmt: skip
FLAG = re.compile(r"--backend (?:aws-batch|kubernetes)|--[a-z][a-z-]*")


def _text(name: str, description: str, **kw) -> StringProperty:
    return StringProperty(name=name, description=description, default=kw.pop("default", ""), **kw)


def annotations() -> dict:
    """``scene.nerf_dataset``'s properties of the Where choice and of the job it made."""
    return {
        "where": EnumProperty(name="Where", items=WHERE_ITEMS, default=LOCAL,
                              description="Where Render NeRF Dataset renders the views"),
        "shards": IntProperty(name="Shards", min=1, max=100_000, default=4,
                              description="Tasks of the job array; each renders its share of the views"),
        "slurm_partition": _text("Partition", "Slurm partition (empty: the cluster's default)"),
        "slurm_time": _text("Time Limit", "Per task, as sbatch takes it: 30, 2:00:00, 1-0 (empty: the partition's)"),
        "s3_bucket": _text("Bucket", "The S3 bucket the job lives in"),
        "s3_prefix": _text("Prefix", "The job's folder in the bucket (jobs/chair)"),
        "s3_region": _text("Region", "The bucket's region (empty: the AWS configuration's)"),
        "s3_endpoint_url": _text("Endpoint URL", "An S3-compatible store (MinIO, Ceph); empty: AWS"),
        "s3_profile": _text("AWS Profile", "A profile name of ~/.aws/config (empty: the standard chain: "
                            "environment, profile, role). Only the name is stored, never a key"),
        "batch_job_queue": _text("Job Queue", "The AWS Batch job queue (name or ARN)"),
        "batch_job_definition": _text("Job Definition", "The job definition (name, name:revision or ARN)"),
        "batch_attempts": IntProperty(name="Attempts", min=1, max=10, default=1,
                                      description="Tries per child (AWS Batch's retry strategy)"),
        "k8s_image": _text("Image", "The worker image (built from the add-on's Dockerfile)"),
        "k8s_namespace": _text("Namespace", "The Kubernetes namespace", default="default"),
        "k8s_pvc": _text("PVC", "A PersistentVolumeClaim holding the job folder (the Output folder, copied onto "
                         "it); empty: the job lives in the S3 bucket and prefix"),
        "k8s_secret": _text("Secret", "A Secret whose keys become the pods' environment (AWS_ACCESS_KEY_ID...): "
                            "credentials never enter the manifest"),
        "k8s_emit_dir": _text("Emit Folder", "Where the manifest is written (empty with a PVC: inside the job)",
                              subtype="DIR_PATH"),
        # The job a submission made: enough to find it again after reopening the .blend.
        "job_location": _text("Job", "The submitted job: its folder or s3://BUCKET/PREFIX"),
        "job_backend": _text("Job Engine", "The batch engine the job was handed to"),
        "job_endpoint_url": _text("Job Endpoint URL", "How the job's bucket is reached (empty: AWS)"),
        "job_region": _text("Job Region", "The job's bucket's region"),
        "job_profile": _text("Job AWS Profile", "The profile name the job was submitted with (never a key)"),
    }  # fmt: skip


def panel_words(text: str) -> str:
    """A refusal worded with the CLI's flags, with the panel's labels instead."""
    return FLAG.sub(lambda m: FLAG_LABELS.get(m.group(0), m.group(0)), text)


@dataclass(frozen=True)
class Request:
    """A submission as ``cli.py submit`` would make it from its flags: every value checked."""

    location: object
    """A folder (``Path``) or ``S3Url``."""
    backend: str
    options: dict
    """The job's record of its engine's settings (``cloud.options.backend_options``)."""
    s3: object
    """``S3Options``: how to reach the bucket (endpoint, region, profile name)."""
    shards: int
    emit: str | None
    overwrite: bool

    @property
    def remote(self) -> bool:
        from ..cloud.location import S3Url

        return isinstance(self.location, S3Url)


def cli_namespace(props) -> argparse.Namespace:
    """The panel's engine settings under the CLI's attribute names, with the CLI's defaults for the rest, for
    ``backend_options`` (the same checks as ``cli.py submit``)."""
    from ..cloud.options import add_backend_options

    parser = argparse.ArgumentParser(add_help=False)
    add_backend_options(parser)
    a = parser.parse_args([])
    a.partition, a.time = props.slurm_partition.strip() or None, props.slurm_time.strip() or None
    a.job_queue, a.job_definition = props.batch_job_queue.strip(), props.batch_job_definition.strip()
    a.attempts = props.batch_attempts
    a.image, a.namespace = props.k8s_image.strip(), props.k8s_namespace.strip() or a.namespace
    a.secret, a.pvc = props.k8s_secret.strip() or None, props.k8s_pvc.strip() or None
    a.shards = props.shards
    return a


def request_from_props(props, out_dir) -> Request:
    """The job the panel asks for (``out_dir()``: the Output folder, asked only by a job that goes there);
    refused (one sentence, named by labels) before any planning."""
    try:
        return _request(props, out_dir)
    except UserError as exc:
        raise UserError(panel_words(str(exc))) from None


def _request(props, out_dir) -> Request:
    from ..cloud.location import S3Url, parse_location
    from ..cloud.options import backend_options
    from ..cloud.s3 import S3Options

    backend, engine = BACKENDS[props.where], ENGINE_NAMES[BACKENDS[props.where]]
    s3 = S3Options(props.s3_endpoint_url.strip() or None, props.s3_region.strip() or None,
                   props.s3_profile.strip() or None)  # fmt: skip
    if props.where == SLURM or (props.where == KUBERNETES and props.k8s_pvc.strip()):
        location = Path(out_dir()).absolute()  # a folder, whatever its name looks like
    else:
        bucket, prefix = props.s3_bucket.strip(), props.s3_prefix.strip()
        if not bucket or not prefix:
            raise UserError(f"{engine} takes the job from S3: give a Bucket and a Prefix")
        location = parse_location(f"s3://{bucket}/{prefix}")
    emit = None
    if props.where == KUBERNETES:
        emit = bpy.path.abspath(props.k8s_emit_dir) if props.k8s_emit_dir else None
        if isinstance(location, S3Url) and not emit:
            raise UserError("Kubernetes with a bucket needs an Emit Folder for the manifest")
    if isinstance(location, S3Url) and importlib.util.find_spec("boto3") is None:
        raise UserError("a job in S3 needs boto3, which this Blender's Python lacks (the extension brings it)")
    options = backend_options(cli_namespace(props), backend, s3, location)
    return Request(location, backend, options, s3, props.shards, emit, props.overwrite)


def store_job(props, request: Request) -> None:
    """Remember the submitted job in the scene (saved with the .blend): where it is and how to reach it."""
    props.job_location = str(request.location)
    props.job_backend = request.backend
    s3 = request.s3 if request.remote else None
    props.job_endpoint_url = (s3.endpoint_url if s3 else None) or ""
    props.job_region = (s3.region if s3 else None) or ""
    props.job_profile = (s3.profile if s3 else None) or ""


def forget_job(props) -> None:
    for name in ("job_location", "job_backend", "job_endpoint_url", "job_region", "job_profile"):
        setattr(props, name, "")


def job_of(props):
    """(location, S3Options or None) of the scene's job; None when it follows none."""
    from ..cloud.location import S3Url, parse_location
    from ..cloud.s3 import S3Options

    if not props.job_location:
        return None
    try:
        location = parse_location(props.job_location)
        s3 = None
        if isinstance(location, S3Url):
            s3 = S3Options(props.job_endpoint_url or None, props.job_region or None, props.job_profile or None)
    except UserError as exc:
        raise UserError(panel_words(str(exc))) from None
    return location, s3


def engine_name(props) -> str:
    return ENGINE_NAMES.get(props.job_backend, props.job_backend)


def download_dir(location, out_dir) -> Path:
    """A job in a bucket downloads into the Output folder (``out_dir()``); a job folder is finalised in place."""
    from ..cloud.location import S3Url

    return Path(out_dir()) if isinstance(location, S3Url) else Path(location)
