"""The ``kubernetes`` back-end: one Indexed Job, one completion index per shard, emitted as a manifest first.

``emit`` writes a ``batch/v1`` Job (JSON, which ``kubectl apply -f`` reads as YAML) with
``completionMode: Indexed``: Kubernetes sets ``JOB_COMPLETION_INDEX`` in each pod, and the worker takes its
shard from it. Each index is retried on its own (``backoffLimitPerIndex``), so one bad shard does not use up
the others' retries. The image's entrypoint is ``python /opt/nerf_dataset/cli.py`` (the ``Dockerfile``), so
the container's ``args`` start with ``worker``. The job folder reaches the pods on a PersistentVolumeClaim
that every node mounts read-write (ReadWriteMany: NFS, CephFS, EFS, Filestore...), and S3 credentials
through a Secret whose keys become environment variables: the manifest names the Secret, never a value.

``apply``, ``task_states`` and ``cancel`` run ``kubectl`` when it is on PATH, with the user's own
kubeconfig; everything it prints is read as hostile (bounded, wrong types ignored). The add-on never imports
a Kubernetes client library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

from ..core.errors import UserError
from ..core.files import write_json_atomic
from .words import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    IMAGE,
    QUANTITY,
    WORKER_UID,
    check_args,
    is_count,
    is_mount_path,
    is_word,
)

MANIFEST = "kubernetes-job.json"
APP_LABEL = {"app.kubernetes.io/name": "nerf-dataset"}
MAX_PARALLELISM = 10_000
"""Pods at once, at most: a bound of ours (Kubernetes holds Indexed Jobs of over 100 000 completions to it)."""
COMMAND_TIMEOUT_S = 60
MAX_OUTPUT_BYTES = 64 * 2**20
"""What ``kubectl`` may print before we stop reading: a Job is a few KiB, the pods of 100 000 shards more."""
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@dataclass(frozen=True)
class KubernetesOptions:
    image: str
    """The worker image (``--image``), e.g. ``ghcr.io/you/nerf-dataset:0.1.0`` built from the ``Dockerfile``."""
    namespace: str = "default"
    name: str | None = None
    """The Job's name (``--k8s-name``); default ``nerf-dataset-`` and the first 10 hex digits of the plan's
    digest (``named``)."""
    parallelism: int | None = None
    """Pods at once; default one per shard (at most ``MAX_PARALLELISM``)."""
    backoff_limit_per_index: int = 2
    """Retries of each shard after its first failure."""
    cpu: str | None = None
    """CPU per pod as Kubernetes writes it (``4``, ``3500m``): requested and the limit."""
    memory: str | None = None
    """Memory per pod as Kubernetes writes it (``8Gi``): requested and the limit."""
    secret: str | None = None
    """A Secret in the namespace whose keys become the worker's environment (``AWS_ACCESS_KEY_ID``...)."""
    pvc: str | None = None
    """A PersistentVolumeClaim (ReadWriteMany) holding the job folder, mounted at ``mount_path``."""
    mount_path: str = "/job"
    service_account: str | None = None

    def __post_init__(self) -> None:
        """Every value goes into a manifest and onto kubectl's command line: each must be one plain word of its
        kind, from the command line and from a job folder alike (a job folder may come from anyone)."""
        if not is_word(IMAGE, self.image):
            raise UserError(f"--image {self.image!r} is not a container image reference (registry/name:tag)")
        for attr, flag, pattern in _NAMES:
            value = getattr(self, attr)
            if (value is not None or attr == "namespace") and not is_word(pattern, value):
                raise UserError(f"{flag} {value!r} is not a Kubernetes name (lower-case letters, digits and '-')")
        for attr, flag in (("cpu", "--cpu"), ("memory", "--memory")):
            value = getattr(self, attr)
            if value is not None and not (is_word(QUANTITY, value) and _above_zero(value)):
                raise UserError(f"{flag} {value!r} is not a Kubernetes quantity above zero (4, 3500m, 8Gi)")
        if self.parallelism is not None and not is_count(self.parallelism, 1, MAX_PARALLELISM):
            raise UserError(f"--parallelism must be 1 to {MAX_PARALLELISM}")
        if not is_count(self.backoff_limit_per_index, 0, 100):
            raise UserError("--backoff-limit-per-index must be 0 to 100")
        if not is_mount_path(self.mount_path):
            raise UserError(f"--mount-path {self.mount_path!r} is not an absolute folder of plain names")

    @staticmethod
    def from_dict(d) -> KubernetesOptions:
        """The options a job recorded (``dataclasses.asdict``); anything else in it is a damaged job."""
        known = {f.name for f in fields(KubernetesOptions)}
        if not isinstance(d, dict) or "image" not in d or not set(d) <= known:
            raise UserError("the job's Kubernetes options are damaged")
        try:
            return KubernetesOptions(**d)
        except UserError as exc:
            raise UserError(f"the job's Kubernetes options are damaged: {exc}") from None


def _above_zero(quantity: str) -> bool:
    """Whether a quantity's number (before its suffix or exponent) has a digit other than 0."""
    return any(c in "123456789" for c in re.match(r"[0-9.]*", quantity).group())


_NAMES = (
    ("namespace", "--namespace", DNS_LABEL),
    ("name", "--k8s-name", DNS_LABEL),  # a label, not a subdomain: pods are named and labelled after it
    ("secret", "--secret", DNS_SUBDOMAIN),
    ("pvc", "--pvc", DNS_SUBDOMAIN),
    ("service_account", "--service-account", DNS_SUBDOMAIN),
)


JOB_LABEL = "nerf-dataset/job"
"""Every Job of one job location (the first and its reruns) carries its first Job's name: cancel finds all."""


def manifest(worker_args: list[str], shards: int, opts: KubernetesOptions, family: str | None = None) -> dict:
    """The ``batch/v1`` Indexed Job running ``worker_args`` once per shard; ``opts.name`` must be set
    (``named``)."""
    args = check_args(worker_args)
    if not is_count(shards, 1, 100_000):
        raise UserError("--shards must be 1 to 100000")
    if opts.name is None:
        raise ValueError("the Job has no name yet (cloud.options.default_name gives one per job location)")
    container: dict = {"name": "worker", "image": opts.image, "args": args}
    quantities = {k: v for k, v in (("cpu", opts.cpu), ("memory", opts.memory)) if v is not None}
    if quantities:
        container["resources"] = {"requests": dict(quantities), "limits": dict(quantities)}
    if opts.secret:
        container["envFrom"] = [{"secretRef": {"name": opts.secret}}]
    container["securityContext"] = {"allowPrivilegeEscalation": False}
    pod: dict = {  # runs as the image's user; fsGroup makes the claim's files writable to it
        "restartPolicy": "Never",  # a failed shard is a new pod, counted against its index's retries
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKER_UID,
            "runAsGroup": WORKER_UID,
            "fsGroup": WORKER_UID,
        },
        "containers": [container],
    }
    if opts.pvc:
        container["volumeMounts"] = [{"name": "job", "mountPath": opts.mount_path}]
        pod["volumes"] = [{"name": "job", "persistentVolumeClaim": {"claimName": opts.pvc}}]
    if opts.service_account:
        pod["serviceAccountName"] = opts.service_account
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": opts.name,
            "namespace": opts.namespace,
            "labels": {**APP_LABEL, JOB_LABEL: family or opts.name},
        },  # fmt: skip
        "spec": {
            "completionMode": "Indexed",
            "completions": shards,
            "parallelism": min(opts.parallelism or shards, shards, MAX_PARALLELISM),
            "backoffLimitPerIndex": opts.backoff_limit_per_index,
            "template": {"metadata": {"labels": dict(APP_LABEL)}, "spec": pod},
        },
    }


def emit(worker_args: list[str], shards: int, opts: KubernetesOptions, out_dir: Path) -> Path:
    """Write the manifest to ``out_dir/kubernetes-job.json`` (atomically); ``kubectl apply -f`` takes it."""
    return write_json_atomic(Path(out_dir) / MANIFEST, manifest(worker_args, shards, opts))


def apply(path: Path) -> str:
    """``kubectl apply -f path``; the name kubectl gives the Job (``job.batch/NAME``)."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise UserError(f"kubectl is not on PATH: apply {path} yourself (kubectl apply -f {path})")
    code, out, err = _run([kubectl, "apply", "-f", str(path), "-o", "name"])
    if code != 0:
        raise UserError(f"kubectl apply failed: {_last_line(err, code)}")
    name = out.strip()
    if not is_word(rf"job\.batch/{DNS_LABEL}", name):
        raise UserError(f"kubectl apply answered {name[:200]!r}, not a Job's name")
    return name


def cancel(opts: KubernetesOptions) -> str:
    """Delete the job's Jobs (the first and its reruns) and, first, their pods (``--cascade=foreground``);
    kubectl's one-line answer."""
    if opts.name is None:
        raise ValueError("the Job has no name yet (cloud.options.default_name gives one per job location)")
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise UserError(
            f"kubectl is not on PATH: kubectl delete job -l {JOB_LABEL}={opts.name} -n {opts.namespace} yourself"
        )
    selector = f"{JOB_LABEL}={opts.name}"
    code, out, err = _run([kubectl, "delete", "job", "-n", opts.namespace, "-l", selector, "--cascade=foreground"])
    if code != 0:
        raise UserError(f"kubectl delete failed: {_last_line(err, code)}")
    return _last_line(out, code)


def task_states(opts: KubernetesOptions, shards: int) -> dict[int, dict]:
    """Each shard's state as Kubernetes sees it now: ``{index: {"state": COMPLETED | FAILED | RUNNING |
    PENDING, "exit_code": int | None}}``; ``{}`` without kubectl, an answer, or the Job."""
    kubectl = shutil.which("kubectl")
    if not kubectl or opts.name is None or not is_count(shards, 1, 100_000):
        return {}
    job = _json(_run([kubectl, "get", "job", opts.name, "-n", opts.namespace, "-o", "json"]))
    spec, status = (job.get(k) if isinstance(job, dict) else None for k in ("spec", "status"))
    if not (isinstance(spec, dict) and spec.get("completions") == shards and isinstance(status, dict)):
        return {}  # no such Job, or not the one this job submitted
    completed = parse_indexes(status.get("completedIndexes"), shards)
    failed = parse_indexes(status.get("failedIndexes"), shards)
    conditions = status.get("conditions")[:100] if isinstance(status.get("conditions"), list) else []
    job_failed = any(isinstance(c, dict) and (c.get("type"), c.get("status")) == ("Failed", "True") for c in conditions)
    pods = _pods(kubectl, opts, shards) if len(completed) < shards else {}
    states = {}
    for i in range(shards):
        phase, code = pods.get(i, ("", None))
        if i in completed:
            states[i] = {"state": "COMPLETED", "exit_code": None}
        elif i in failed or job_failed:
            states[i] = {"state": "FAILED", "exit_code": code if phase == "Failed" else None}
        else:
            states[i] = {"state": "RUNNING" if phase == "Running" else "PENDING", "exit_code": None}
    return states


def parse_indexes(text, shards: int) -> set[int]:
    """The indexes in a Job status' ``"1,3-5,7"``, those below ``shards``; anything malformed is skipped."""
    found: set[int] = set()
    if not isinstance(text, str) or len(text) > 16 * shards + 16:
        return found
    for part in text.split(","):
        lo, dash, hi = part.partition("-")
        first, last = _number(lo), _number(hi) if dash else _number(lo)
        if first is not None and last is not None:
            found.update(range(first, min(last, shards - 1) + 1))
    return found


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 7 else None


def _pods(kubectl: str, opts: KubernetesOptions, shards: int) -> dict[int, tuple[str, int | None]]:
    """Each index's newest pod not yet succeeded: (phase, the worker's exit code if it ended)."""
    selector = [f"--selector={JOB_NAME_LABEL}={opts.name}", "--field-selector=status.phase!=Succeeded"]
    listing = _json(_run([kubectl, "get", "pods", "-n", opts.namespace, *selector, "-o", "json"]))
    items = listing.get("items") if isinstance(listing, dict) else None
    newest: dict[int, tuple[str, str, int | None]] = {}
    for pod in items[: 20 * shards] if isinstance(items, list) else []:
        meta, status = (pod.get(k) if isinstance(pod, dict) else None for k in ("metadata", "status"))
        if not isinstance(meta, dict) or not isinstance(status, dict):
            continue
        notes = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        index = parse_indexes(notes.get(INDEX_ANNOTATION), shards)
        created, phase = meta.get("creationTimestamp"), status.get("phase")
        if len(index) != 1 or not isinstance(created, str) or not isinstance(phase, str):
            continue
        (i,) = index
        if i not in newest or created > newest[i][0]:  # RFC 3339 in UTC: text order is time order
            newest[i] = (created, phase, _exit_code(status))
    return {i: (phase, code) for i, (_, phase, code) in newest.items()}


def _exit_code(status: dict) -> int | None:
    containers = status.get("containerStatuses")
    for c in containers[:16] if isinstance(containers, list) else []:
        if isinstance(c, dict) and c.get("name") == "worker":
            state = c.get("state")
            ended = state.get("terminated") if isinstance(state, dict) else None
            code = ended.get("exitCode") if isinstance(ended, dict) else None
            return code if is_count(code, 0, 255) else None
    return None


def _json(result: tuple[int, str, str]):
    code, out, _ = result
    if code != 0 or not out:
        return None
    try:
        return json.loads(out)
    except (ValueError, RecursionError):
        return None


def _last_line(text: str, code: int) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else f"exit {code}"


def _run(cmd: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``cmd`` within ``COMMAND_TIMEOUT_S``. More than ``MAX_OUTPUT_BYTES`` on
    either stream is no answer (exit -1): what comes after is read and dropped. kubectl runs in a process group
    of its own (POSIX), so a credential plugin it started goes with it when it is stopped."""
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)  # fmt: skip
    except OSError as exc:
        raise UserError(f"{Path(cmd[0]).name} could not start: {exc.strerror}") from None
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    out, err = bytearray(), bytearray()
    pairs = ((proc.stdout, out), (proc.stderr, err))
    readers = [threading.Thread(target=_drain, args=pair, daemon=True) for pair in pairs]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=COMMAND_TIMEOUT_S)
        for reader in readers:  # a child that kept the pipes open keeps them within the time too
            reader.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(reader.is_alive() for reader in readers):
            raise subprocess.TimeoutExpired(cmd, COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise UserError(f"{Path(cmd[0]).name} did not answer within {COMMAND_TIMEOUT_S} s") from None
    if max(len(out), len(err)) > MAX_OUTPUT_BYTES:
        return -1, "", f"{Path(cmd[0]).name} printed more than {MAX_OUTPUT_BYTES} bytes"
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _drain(stream, sink: bytearray) -> None:
    """Read ``stream`` to its end, keeping at most ``MAX_OUTPUT_BYTES`` + 1 bytes of it."""
    with stream:
        while chunk := stream.read1(1 << 16):
            if len(sink) <= MAX_OUTPUT_BYTES:
                sink += chunk[: MAX_OUTPUT_BYTES + 1 - len(sink)]


def _stop(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and the process group it leads (the one ``_run`` started), then reap it."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()
