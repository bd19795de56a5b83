"""The Kubernetes back-end: the emitted Job is one Kubernetes itself reads (the official client's typed models
take it back field for field), bad option values never reach it, no secret is in it, and what ``kubectl``
answers is read as hostile. No API server can run here, so ``kubectl`` is a stand-in script on PATH."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from nerf_dataset.cloud.engines.kubernetes import (
    KubernetesOptions,
    apply,
    cancel,
    emit,
    manifest,
    parse_indexes,
    task_states,
)
from nerf_dataset.core.errors import UserError

kubernetes = pytest.importorskip("kubernetes")
yaml = pytest.importorskip("yaml")

IMAGE = "ghcr.io/example/nerf-dataset:0.1.0"
ARGS = ["worker", "--job", "/job"]
NAME = "nerf-dataset-0123456789"


def opts(**kw) -> KubernetesOptions:
    return KubernetesOptions(IMAGE, **{"name": NAME, **kw})


def read_back(data: dict):
    """``data`` as the client's ``V1Job`` model, and the model written out again."""
    client = kubernetes.client.ApiClient()
    job = client._ApiClient__deserialize(data, "V1Job")
    return job, client.sanitize_for_serialization(job)


def test_the_manifest_is_an_indexed_job_that_kubernetes_reads_back_whole():
    o = opts(namespace="render", cpu="3500m", memory="8Gi", secret="s3-credentials", pvc="nerf-jobs",
             service_account="renderer")  # fmt: skip
    data = manifest(ARGS, 7, o)
    job, again = read_back(data)
    assert again == data  # every key is a field of its model: a misspelt one would have been dropped
    assert (job.api_version, job.kind, job.metadata.name, job.metadata.namespace) == ("batch/v1", "Job", NAME, "render")
    spec = job.spec
    assert (spec.completion_mode, spec.completions, spec.parallelism, spec.backoff_limit_per_index) == (
        "Indexed",
        7,
        7,
        2,
    )
    pod = spec.template.spec
    assert pod.restart_policy == "Never" and pod.service_account_name == "renderer"
    (worker,) = pod.containers
    assert (worker.name, worker.image, worker.args, worker.command) == ("worker", IMAGE, ARGS, None)
    assert worker.resources.requests == worker.resources.limits == {"cpu": "3500m", "memory": "8Gi"}
    assert [e.secret_ref.name for e in worker.env_from] == ["s3-credentials"] and worker.env is None
    (volume,) = pod.volumes
    (mount,) = worker.volume_mounts
    assert volume.persistent_volume_claim.claim_name == "nerf-jobs"
    assert (mount.name, mount.mount_path) == (volume.name, "/job")
    assert pod.security_context.run_as_non_root and pod.security_context.fs_group == pod.security_context.run_as_user
    assert spec.template.metadata.labels == {"app.kubernetes.io/name": "nerf-dataset"}
    assert job.metadata.labels == {"app.kubernetes.io/name": "nerf-dataset", "nerf-dataset/job": job.metadata.name}


def test_a_plain_job_has_no_resources_secret_or_volume_and_parallelism_never_exceeds_the_shards():
    job, _ = read_back(manifest(ARGS, 3, opts(parallelism=50, backoff_limit_per_index=0)))
    (worker,) = job.spec.template.spec.containers
    assert (worker.resources, worker.env_from, worker.volume_mounts, job.spec.template.spec.volumes) == (None,) * 4
    assert (job.spec.parallelism, job.spec.backoff_limit_per_index) == (3, 0)
    assert read_back(manifest(ARGS, 10, opts(parallelism=2)))[0].spec.parallelism == 2


def test_emit_writes_json_that_kubectl_reads_as_yaml(tmp_path):
    path = emit(ARGS, 4, opts(pvc="jobs"), tmp_path / "backend")
    assert path == tmp_path / "backend" / f"kubernetes-job-{NAME}.json"
    assert yaml.safe_load(path.read_text()) == json.loads(path.read_text()) == manifest(ARGS, 4, opts(pvc="jobs"))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_no_secret_of_the_submitters_environment_reaches_the_manifest(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-example-secret")
    text = json.dumps(manifest(ARGS, 2, opts(secret="s3-credentials")))
    assert "AKIAEXAMPLE" not in text and "wJalrXUtnFEMI" not in text
    assert '"env"' not in text and "AWS_" not in text  # the Secret's name only: kubelet fills the values in


@pytest.mark.parametrize("value", ["4", "3500m", "0.5", "8Gi", "512Mi", "1e3", "100M", "250k"])
def test_quantities_accepted_are_quantities_kubernetes_parses(value):
    assert KubernetesOptions(IMAGE, cpu=value, memory=value).cpu == value
    assert kubernetes.utils.parse_quantity(value) > 0


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("name", "my job", "--k8s-name"),
        ("name", "; rm -rf /", "--k8s-name"),
        ("name", "x" * 64, "--k8s-name"),
        ("namespace", "Default", "--namespace"),
        ("namespace", None, "--namespace"),
        ("image", "ghcr.io/example/nerf:1\nrm -rf /", "--image"),
        ("image", "", "--image"),
        ("image", "ghcr.io/Example/nerf", "--image"),
        ("image", "nerf:1 --privileged", "--image"),
        ("cpu", "lots", "--cpu"),
        ("cpu", "-1", "--cpu"),
        ("cpu", "0", "--cpu"),
        ("cpu", "0e5", "--cpu"),
        ("memory", "8 Gi", "--memory"),
        ("memory", "8Gi\n", "--memory"),
        ("secret", "s3;creds", "--secret"),
        ("pvc", "../jobs", "--pvc"),
        ("service_account", "Admin", "--service-account"),
        ("mount_path", "/job:rw", "--mount-path"),
        ("mount_path", "/", "--mount-path"),
        ("mount_path", "job", "--mount-path"),
        ("mount_path", "/job/../etc", "--mount-path"),
        ("mount_path", "/opt/nerf_dataset/out", "--mount-path"),
        ("parallelism", 0, "--parallelism"),
        ("parallelism", True, "--parallelism"),
        ("backoff_limit_per_index", 101, "--backoff-limit-per-index"),
        ("backoff_limit_per_index", "2", "--backoff-limit-per-index"),
    ],
)
def test_bad_values_are_refused_in_one_line_naming_the_flag(field, value, flag):
    with pytest.raises(UserError) as info:
        KubernetesOptions(**{"image": IMAGE, field: value})
    assert str(info.value).startswith(flag) and "\n" not in str(info.value)


def test_options_round_trip_through_a_job_file_and_damage_is_refused():
    o = opts(cpu="2", secret="creds", pvc="jobs")
    assert KubernetesOptions.from_record(json.loads(json.dumps(asdict(o)))) == o
    good = asdict(o)
    for bad in ([], {**good, "privileged": True}, {k: v for k, v in good.items() if k != "image"},
                {**good, "cpu": 4}, {**good, "parallelism": "8"}):  # fmt: skip
        with pytest.raises(UserError, match="damaged"):
            KubernetesOptions.from_record(bad)


def test_the_default_name_is_one_per_job_location_and_a_given_name_is_kept(tmp_path):
    from nerf_dataset.cloud.engines.engine import default_name
    from nerf_dataset.cloud.places import job_place

    a, b = default_name(job_place("s3://nerf-jobs/jobs/a")), default_name(job_place("s3://nerf-jobs/jobs/b"))
    assert a != b and a == default_name(job_place("s3://nerf-jobs/jobs/a"))
    assert re.fullmatch(r"nerf-dataset-[0-9a-f]{10}", a)
    (tmp_path / "job").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "job")  # one folder, however it is spelled
    assert default_name(job_place(str(tmp_path / "link"))) == default_name(job_place(str(tmp_path / "job")))
    assert KubernetesOptions(IMAGE, name="chair").name == "chair"


@pytest.mark.parametrize(
    ("text", "shards", "expected"),
    [
        ("0-2,5", 8, {0, 1, 2, 5}),
        ("1,3-5,7", 6, {1, 3, 4, 5}),
        ("", 4, set()),
        ("0-999999,x,-,3-1,,2-", 5, {0, 1, 2, 3, 4}),
        ("０,1", 3, {1}),
        (7, 3, set()),
        ("0," * 100, 2, set()),
    ],
)
def test_index_ranges_are_read_within_the_shards_and_garbage_is_skipped(text, shards, expected):
    assert parse_indexes(text, shards) == expected


FAKE_KUBECTL = r"""#!/bin/sh
d="$(dirname "$0")"
key="$d/$1-$2"
printf '%s\n' "$@" > "$key.argv"
[ -f "$key.sleep" ] && sleep "$(cat "$key.sleep")"
[ -f "$key.background" ] && { sleep "$(cat "$key.background")" & echo $! > "$key.pid"; }
[ -f "$key.err" ] && cat "$key.err" >&2
[ -f "$key.out" ] && cat "$key.out"
[ -f "$key.rc" ] && exit "$(cat "$key.rc")"
[ -f "$key.out" ] && exit 0
echo 'Error from server (NotFound): jobs.batch "x" not found' >&2
exit 1
"""


class Kubectl:
    """A stand-in ``kubectl`` first on PATH: answers ``kubectl A B ...`` from files ``A-B.out/.err/.rc``."""

    def __init__(self, folder: Path):
        self.folder = folder

    def answer(self, key: str, out: str | dict = "", err: str = "", rc: int = 0, sleep: float = 0,
               background: float = 0) -> None:  # fmt: skip
        """``sleep``: seconds before answering; ``background``: a child left holding the pipes that long."""
        (self.folder / f"{key}.out").write_text(out if isinstance(out, str) else json.dumps(out))
        (self.folder / f"{key}.err").write_text(err)
        (self.folder / f"{key}.rc").write_text(str(rc))
        for name, seconds in (("sleep", sleep), ("background", background)):
            if seconds:
                (self.folder / f"{key}.{name}").write_text(str(seconds))

    def argv(self, key: str) -> list[str]:
        return (self.folder / f"{key}.argv").read_text().splitlines()


@pytest.fixture
def kubectl(tmp_path, monkeypatch):
    if os.name == "nt":
        pytest.skip("the stand-in kubectl is a POSIX shell script")
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "kubectl").write_text(FAKE_KUBECTL)
    (folder / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return Kubectl(folder)


def job_json(shards: int, completed: str | None = None, failed: str | None = None, conditions=()) -> dict:
    """A Job's status as the API server writes it (the client's models, serialised)."""
    m = kubernetes.client
    job = m.V1Job(
        metadata=m.V1ObjectMeta(name=NAME, namespace="default"),
        spec=m.V1JobSpec(completions=shards, completion_mode="Indexed", template=m.V1PodTemplateSpec()),
        status=m.V1JobStatus(completed_indexes=completed, failed_indexes=failed,
                             conditions=[m.V1JobCondition(type=t, status="True") for t in conditions] or None),
    )  # fmt: skip
    return m.ApiClient().sanitize_for_serialization(job)


def pod_json(index: int, phase: str, created: str, exit_code: int | None = None) -> dict:
    m = kubernetes.client
    state = m.V1ContainerState(terminated=m.V1ContainerStateTerminated(exit_code=exit_code)) if exit_code else None
    return m.ApiClient().sanitize_for_serialization(
        m.V1Pod(
            metadata=m.V1ObjectMeta(annotations={"batch.kubernetes.io/job-completion-index": str(index)},
                                    creation_timestamp=created),
            status=m.V1PodStatus(phase=phase, container_statuses=[
                m.V1ContainerStatus(name="worker", image=IMAGE, image_id="", ready=False, restart_count=0,
                                    state=state)]),
        )
    )  # fmt: skip


def test_apply_runs_kubectl_on_the_manifest_and_returns_the_jobs_name(kubectl, tmp_path):
    path = emit(ARGS, 2, opts(), tmp_path)
    kubectl.answer("apply--f", f"job.batch/{NAME}\n")
    assert apply(path) == f"job.batch/{NAME}"
    assert kubectl.argv("apply--f") == ["apply", "-f", str(path), "-o", "name"]


def test_apply_failures_are_one_line(kubectl, tmp_path):
    path = emit(ARGS, 2, opts(), tmp_path)
    kubectl.answer("apply--f", err='Warning: x\nerror: the server doesn\'t have a resource type "jobs"\n', rc=1)
    with pytest.raises(UserError, match=r'^kubectl apply failed: error: the server .* "jobs"$'):
        apply(path)
    kubectl.answer("apply--f", "job.batch/x; rm -rf /\n")
    with pytest.raises(UserError, match="not a Job's name"):
        apply(path)


def test_without_kubectl_apply_says_what_to_run_and_status_knows_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match=r"kubectl is not on PATH: apply .*kubectl apply -f"):
        apply(tmp_path / "kubernetes-job.json")
    assert task_states(opts(), 4) == {}


def test_task_states_map_indexes_and_pods_to_each_shards_state(kubectl):
    kubectl.answer("get-job", job_json(8, completed="0-2,5", failed="4"))
    kubectl.answer("get-pods", {"items": [
        pod_json(3, "Running", "2026-01-01T10:00:00Z"),
        pod_json(4, "Failed", "2026-01-01T10:00:00Z", exit_code=1),
        pod_json(4, "Failed", "2026-01-01T10:05:00Z", exit_code=3),  # the newest try of index 4
        pod_json(6, "Pending", "2026-01-01T10:00:00Z"),
    ]})  # fmt: skip
    states = task_states(opts(), 8)
    assert {i: s["state"] for i, s in states.items()} == {
        0: "COMPLETED", 1: "COMPLETED", 2: "COMPLETED", 3: "RUNNING", 4: "FAILED", 5: "COMPLETED", 6: "PENDING",
        7: "PENDING",
    }  # fmt: skip
    assert states[4]["exit_code"] == 3 and all(s["exit_code"] is None for i, s in states.items() if i != 4)
    assert kubectl.argv("get-job") == ["get", "job", NAME, "-n", "default", "-o", "json"]
    assert f"--selector=batch.kubernetes.io/job-name={NAME}" in kubectl.argv("get-pods")


def test_a_failed_job_leaves_no_shard_pending(kubectl):
    kubectl.answer("get-job", job_json(3, completed="0", conditions=["Failed"]))
    kubectl.answer("get-pods", {"items": []})
    assert [s["state"] for s in task_states(opts(), 3).values()] == ["COMPLETED", "FAILED", "FAILED"]


@pytest.mark.parametrize(
    "answer",
    [
        "not json {",
        [],
        {"status": []},
        {"spec": {"completions": 3}, "status": {"completedIndexes": 5, "failedIndexes": ["1"]}},
        {"spec": {"completions": "3"}, "status": {"completedIndexes": "0-2"}},
        {"spec": {"completions": 9}, "status": {"completedIndexes": "0-2"}},  # another Job of that name
    ],
)
def test_task_states_read_kubectls_answers_as_hostile(kubectl, answer):
    kubectl.answer("get-job", answer)
    kubectl.answer("get-pods", {"items": [{"metadata": []}, 7, {"metadata": {"annotations": {
        "batch.kubernetes.io/job-completion-index": "1-2"}}, "status": {"phase": "Running"}}]})  # fmt: skip
    states = task_states(opts(), 3)
    assert all(s == {"state": "PENDING", "exit_code": None} for s in states.values())
    assert set(states) in (set(), {0, 1, 2})


def test_an_unknown_job_and_an_endless_answer_give_no_states(kubectl, monkeypatch):
    assert task_states(opts(), 3) == {}  # the stand-in answers NotFound
    monkeypatch.setattr("nerf_dataset.cloud.tools.MAX_OUTPUT_BYTES", 1000)
    kubectl.answer("get-job", job_json(3, completed="0-2") | {"padding": "x" * 5000})
    assert task_states(opts(), 3) == {}


def test_kubectl_that_hangs_is_one_line_after_the_timeout(kubectl, monkeypatch):
    monkeypatch.setattr("nerf_dataset.cloud.tools.COMMAND_TIMEOUT_S", 0.2)
    kubectl.answer("get-job", job_json(2), sleep=5)
    with pytest.raises(UserError, match="^kubectl did not answer within 0.2 s$"):
        task_states(opts(), 2)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the child's state in /proc (Linux)")
def test_a_child_kubectl_leaves_holding_its_output_is_stopped_with_it(kubectl, monkeypatch):
    monkeypatch.setattr("nerf_dataset.cloud.tools.COMMAND_TIMEOUT_S", 0.2)
    kubectl.answer("get-job", job_json(2), background=30)  # as a credential plugin gone astray might
    with pytest.raises(UserError, match="did not answer"):
        task_states(opts(), 2)
    child = int((kubectl.folder / "get-job.pid").read_text())
    for _ in range(100):  # the kill is sent; the kernel reaps the child a moment later
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        time.sleep(0.01)
    else:
        pytest.fail(f"kubectl's child {child} still runs")


def test_cancel_deletes_the_job_with_its_pods(kubectl):
    kubectl.answer("delete-job", f'job.batch "{NAME}" deleted\n')
    assert cancel(opts(namespace="render")) == f'job.batch "{NAME}" deleted'
    selector = f"nerf-dataset/job={NAME}"  # the Job and any rerun of some of its shards
    assert kubectl.argv("delete-job") == ["delete", "job", "-n", "render", "-l", selector, "--cascade=foreground"]
    (kubectl.folder / "delete-job.out").unlink()
    (kubectl.folder / "delete-job.rc").unlink()
    with pytest.raises(UserError, match=r"^kubectl delete failed: Error from server \(NotFound\)"):
        cancel(opts())
