"""The ``kubernetes`` engine: one Indexed Job, one completion index per shard, emitted as a manifest first.

``emit`` writes a ``batch/v1`` Job (JSON, which ``kubectl apply -f`` reads as YAML) with ``completionMode:
Indexed``: Kubernetes sets ``JOB_COMPLETION_INDEX`` in each pod, and the worker takes its shard from it. Each index
is retried on its own (``backoffLimitPerIndex``), so one bad shard does not use up the others' retries. The
image's entrypoint is ``python /opt/nerf_dataset/cli.py`` (the ``Dockerfile``), so the container's ``args`` start
with ``worker``. The job folder reaches the pods on a PersistentVolumeClaim that every node mounts read-write
(ReadWriteMany: NFS, CephFS, EFS, Filestore...), and S3 credentials through a Secret whose keys become
environment variables: the manifest names the Secret, never a value.

``apply``, ``task_states`` and ``cancel`` run ``kubectl`` (``cloud.tools``) when it is on PATH, with the user's
own kubeconfig; everything it prints is read as hostile (bounded, wrong types ignored). The add-on never imports a
Kubernetes client library.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from ...core.errors import UserError
from ...core.options import Meta, Options, family, option, required
from ..job import SHARD_LIST_VARIABLE, shard_list_text
from ..tools import ToolResult, find_tool, last_line, run_tool
from ..words import DNS_LABEL, DNS_SUBDOMAIN, QUANTITY, WORKER_UID, check_args, is_count, is_word
from .engine import (
    EMITTED_LABEL,
    MOUNT_PATH,
    WORKER_IMAGE,
    ContainerEngine,
    Start,
    check_mount_path,
    default_name,
    emit_dir,
    write_emitted,
)

APP_LABEL = EMITTED_LABEL
MAX_PARALLELISM = 10_000
"""Pods at once, at most: a bound of ours (Kubernetes holds Indexed Jobs of over 100 000 completions to it)."""
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
NAME_WORDS = "a Kubernetes name (lower-case letters, digits and '-')"
QUANTITY_WORDS = "a Kubernetes quantity above zero (4, 3500m, 8Gi)"


@family
@dataclass(frozen=True)
class KubernetesOptions(Options):
    FAMILY = "Kubernetes"
    PANEL_PREFIX = "k8s_"

    image: str = required(WORKER_IMAGE)
    namespace: str = option(
        "default", Meta("--namespace", "Namespace", "the Kubernetes namespace", "NS", word=DNS_LABEL, what=NAME_WORDS)
    )
    name: str | None = option(
        None,
        Meta(
            "--k8s-name",
            "Job Name",
            "the Job's name",
            "NAME",
            none_means="nerf-dataset-<digest of the job location>",
            word=DNS_LABEL,
            what=NAME_WORDS,
            panel="none",
        ),
    )  # a label, not a subdomain: pods are named after it
    parallelism: int | None = option(
        None,
        Meta("--parallelism", "Parallelism", "tasks at once", "N", 1, MAX_PARALLELISM, none_means="all", panel="none"),
    )
    backoff_limit_per_index: int = option(
        2,
        Meta(
            "--backoff-limit-per-index",
            "Retries per Index",
            "retries of each shard after its first failure",
            "N",
            0,
            100,
            panel="none",
        ),
    )
    cpu: str | None = option(
        None,
        Meta(
            "--cpu",
            "CPU",
            "CPU per pod, requested and the limit (4, 3500m)",
            "CPU",
            word=QUANTITY,
            what=QUANTITY_WORDS,
            panel="none",
        ),
    )
    memory: str | None = option(
        None,
        Meta(
            "--memory",
            "Memory",
            "memory per pod, requested and the limit (8Gi)",
            "SIZE",
            word=QUANTITY,
            what=QUANTITY_WORDS,
            panel="none",
        ),
    )
    secret: str | None = option(
        None,
        Meta(
            "--secret",
            "Secret",
            "a Secret whose keys become the pods' environment (AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY): credentials never enter the manifest",
            "NAME",
            word=DNS_SUBDOMAIN,
            what=NAME_WORDS,
        ),
    )
    pvc: str | None = option(
        None,
        Meta(
            "--pvc",
            "PVC",
            "a PersistentVolumeClaim (ReadWriteMany) holding the job folder at its root",
            "CLAIM",
            none_means="the job lives in the S3 bucket and prefix",
            word=DNS_SUBDOMAIN,
            what=NAME_WORDS,
        ),
    )
    mount_path: str = option("/job", MOUNT_PATH)
    service_account: str | None = option(None, Meta(
        "--service-account", "Service Account", "the pods' service account (IRSA, workload identity)", "NAME",
        word=DNS_SUBDOMAIN, what=NAME_WORDS, panel="none"))  # fmt: skip

    def check(self) -> None:
        for name in ("cpu", "memory"):
            value = getattr(self, name)
            if value is not None and not _above_zero(value):
                raise UserError(f"--{name} {value!r} is not {QUANTITY_WORDS}")
        check_mount_path(self.mount_path)


class KubernetesEngine(ContainerEngine):
    name, label = "kubernetes", "Kubernetes"
    index_variable = "JOB_COMPLETION_INDEX"
    options = KubernetesOptions
    volume = "pvc"
    emits = "an Indexed Job manifest"
    applies = True
    kept_on_retry = ("namespace", "name")
    panel = "Kubernetes (emit)"
    panel_help = "Write a Kubernetes Indexed Job manifest, for kubectl apply"

    def recorded(self, spec) -> KubernetesOptions:
        opts = super().recorded(spec)
        if opts.name is None:  # a submission always names its Job (``prepare``): status and cancel find it so
            raise UserError("the job's Kubernetes options are damaged: its Job has no name")
        return opts

    def prepare(self, opts, place):
        return opts if opts.name else replace(opts, name=default_name(place))

    def start(self, place, spec, plan, start: Start) -> str:
        opts = start.options
        args = self.worker_args(place, opts, opts.cpu)
        family_name, rerun = opts.name, start.shards if start.subset(spec) else None
        if rerun:  # a Job's name is unique: the rerun of some shards is a Job of its own, of the same family
            opts = replace(opts, name=self.rerun_name(opts.name, rerun))
        path = emit(args, len(start.shards), opts, emit_dir(place, start.emit), family_name, rerun)
        if start.apply:
            return f"wrote {path}; {apply(path)}"
        return f"wrote {path}; kubectl apply -f {path} starts it"

    def task_states(self, place, spec) -> dict[int, dict]:
        return task_states(self.recorded(spec), spec.shards)

    def cancel(self, place, spec) -> str:
        return cancel(self.recorded(spec))


ENGINE = KubernetesEngine()


def _above_zero(quantity: str) -> bool:
    """Whether a quantity's number (before its suffix or exponent) has a digit other than 0."""
    return any(c in "123456789" for c in re.match(r"[0-9.]*", quantity).group())


JOB_LABEL = "nerf-dataset/job"
"""Every Job of one job location (the first and its reruns) carries its first Job's name: cancel finds all."""


def manifest(worker_args: list[str], shards: int, opts: KubernetesOptions, family: str | None = None,
             rerun: list[int] | None = None) -> dict:  # fmt: skip
    """The ``batch/v1`` Indexed Job running ``worker_args`` once per shard (``opts.name`` must be set:
    ``default_name``); a ``rerun`` of some of the job's shards maps each index to one of them."""
    args = check_args(worker_args)
    if not is_count(shards, 1, 100_000):
        raise UserError("--shards must be 1 to 100000")
    if opts.name is None:
        raise ValueError("the Job has no name yet (default_name gives one per job location)")
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
    if rerun:
        container["env"] = [{"name": SHARD_LIST_VARIABLE, "value": shard_list_text(rerun)}]
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


def emit(worker_args: list[str], shards: int, opts: KubernetesOptions, out_dir: Path, family: str | None = None,
         rerun: list[int] | None = None) -> Path:  # fmt: skip
    """Write the manifest to ``out_dir/kubernetes-job-<name>.json`` (atomically, replacing only one of ours);
    ``kubectl apply -f`` takes it."""
    doc = manifest(worker_args, shards, opts, family, rerun)
    return write_emitted(Path(out_dir) / f"kubernetes-job-{opts.name}.json", doc)


def apply(path: Path) -> str:
    """``kubectl apply -f path``; the name kubectl gives the Job (``job.batch/NAME``)."""
    kubectl = find_tool("kubectl", f"apply {path} yourself (kubectl apply -f {path})")
    result = run_tool([kubectl, "apply", "-f", str(path), "-o", "name"])
    if result.code != 0:
        raise UserError(f"kubectl apply failed: {result.last_line()}")
    name = result.out.strip()
    if not is_word(rf"job\.batch/{DNS_LABEL}", name):
        raise UserError(f"kubectl apply answered {name[:200]!r}, not a Job's name")
    return name


def cancel(opts: KubernetesOptions) -> str:
    """Delete the job's Jobs (the first and its reruns) and, first, their pods (``--cascade=foreground``);
    kubectl's one-line answer."""
    if opts.name is None:
        raise ValueError("the Job has no name yet (default_name gives one per job location)")
    selector = f"{JOB_LABEL}={opts.name}"
    kubectl = find_tool("kubectl", f"kubectl delete job -l {selector} -n {opts.namespace} yourself")
    result = run_tool([kubectl, "delete", "job", "-n", opts.namespace, "-l", selector, "--cascade=foreground"])
    if result.code != 0:
        raise UserError(f"kubectl delete failed: {result.last_line()}")
    return last_line(result.out, result.code)


def task_states(opts: KubernetesOptions, shards: int) -> dict[int, dict]:
    """Each shard's state as Kubernetes sees it now: ``{index: {"state": COMPLETED | FAILED | RUNNING |
    PENDING, "exit_code": int | None}}``; ``{}`` without kubectl, an answer, or the Job."""
    kubectl = shutil.which("kubectl")
    if not kubectl or opts.name is None or not is_count(shards, 1, 100_000):
        return {}
    answer = run_tool([kubectl, "get", "job", opts.name, "-n", opts.namespace, "-o", "json"])
    if answer.code not in (0, -1) and "(NotFound)" not in answer.err:  # no such Job is news; a failure is not
        raise UserError(f"kubectl get job failed: {answer.last_line()}; which shards run cannot be told")
    job = _json(answer)
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
    listing = _json(run_tool([kubectl, "get", "pods", "-n", opts.namespace, *selector, "-o", "json"]))
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


def _json(result: ToolResult):
    if result.code != 0 or not result.out:
        return None
    try:
        return json.loads(result.out)
    except (ValueError, RecursionError):
        return None
