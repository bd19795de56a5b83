"""Where = a batch engine: the Render button submits a job, the job panel follows it, against a real moto
S3 + AWS Batch server on loopback; the children are real ``cli.py worker`` processes, as AWS Batch runs them."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CLI, ROOT
from moto_aws import ACCESS_KEY, BUCKET, DEFINITION, QUEUE, REGION, SECRET_KEY

import nerf_dataset

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.fixture
def scene(fresh_bpy, moto_aws, monkeypatch, tmp_path):
    """The demo scene, 8 tiny views, Where = AWS Batch on the moto server (credentials only in the environment)."""
    for name, value in moto_aws.env.items():
        monkeypatch.setenv(name, value)
    nerf_dataset.register()
    from nerf_dataset.blender_io.demo import build_demo_scene

    scene = build_demo_scene()
    props = scene.nerf_dataset
    props.use_train, props.use_val, props.use_test = True, True, True
    props.train, props.val, props.test = 5, 1, 2
    props.use_resolution, props.resolution = True, (32, 32)
    props.use_samples, props.samples = True, 4
    props.transparent = True
    props.formats = {"nerf"}
    props.output_dir = str(tmp_path / "dataset")
    props.where, props.shards = "AWS_BATCH", 2
    props.s3_bucket, props.s3_prefix = BUCKET, f"jobs/{tmp_path.name}"
    props.s3_endpoint_url, props.s3_region = moto_aws.url, REGION
    props.batch_job_queue, props.batch_job_definition, props.batch_attempts = QUEUE, DEFINITION, 2
    yield scene
    from nerf_dataset.operators import following as jobs

    jobs.wait()
    nerf_dataset.unregister()


@pytest.fixture
def staged(monkeypatch) -> list[Path]:
    """The staging folders the submissions of this test made."""
    from nerf_dataset.cloud import scratch

    made, real = [], scratch.staging_dir
    monkeypatch.setattr(scratch, "staging_dir", lambda: made.append(real()) or made[-1])
    return made


def submissions(moto_aws, prefix: str) -> list[dict]:
    return [
        json.loads(data) for _, data in sorted(moto_aws.objects(f"{prefix}/.nerf_dataset/backend/aws-batch/").items())
    ]


def run_children(moto_aws, run: dict, user_resources) -> None:
    """What AWS Batch runs for each child of the array: the recorded command, its index in the environment."""
    for index in range(len(run["shards"])):
        env = {**os.environ, **moto_aws.env, "AWS_BATCH_JOB_ARRAY_INDEX": str(index),
               "BLENDER_USER_RESOURCES": str(user_resources)}  # fmt: skip
        command = run["request"]["containerOverrides"]["command"]
        r = subprocess.run([sys.executable, str(CLI), *command], env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]


def user_image(bpy, path: Path):
    """An image the user's file uses from disk."""
    made = bpy.data.images.new("texture", 4, 4)
    made.filepath_raw, made.file_format = str(path), "PNG"
    made.save()
    bpy.data.images.remove(made)
    image = bpy.data.images.load(str(path))
    image.use_fake_user = True
    return image


def blend_bytes(path: Path) -> bytes:
    """A saved .blend as Blender reads it: zstd-decompressed when Blender compressed it."""
    data = path.read_bytes()
    if data.startswith(ZSTD_MAGIC):
        import zstandard

        data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    return data


def test_a_job_on_aws_batch_from_the_panel(scene, fresh_bpy, moto_aws, tmp_path, user_resources, staged):
    from nerf_dataset.operators import following as jobs
    from nerf_dataset.panels.job import job_lines

    bpy, props = fresh_bpy, scene.nerf_dataset
    location = f"s3://{BUCKET}/{props.s3_prefix}"
    image = user_image(bpy, tmp_path / "texture.png")
    assert bpy.ops.nerf_dataset.render() == {"FINISHED"}
    assert len(staged) == 1 and not staged[0].exists()  # the staging folder went with the upload
    assert image.packed_file is None  # packed into the job's copy only: the user's file stays as it was
    assert (props.job_location, props.job_backend) == (location, "aws-batch")
    assert (props.job_endpoint_url, props.job_region, props.job_profile) == (moto_aws.url, REGION, "")
    [run] = submissions(moto_aws, props.s3_prefix)
    [array] = moto_aws.batch.describe_jobs(jobs=[run["id"]])["jobs"]
    assert array["arrayProperties"]["size"] == 2 and array["jobQueue"].endswith(QUEUE)
    assert run["request"]["retryStrategy"] == {"attempts": 2} and run["shards"] == [0, 1]

    assert bpy.ops.nerf_dataset.job_refresh() == {"FINISHED"}
    status = jobs.STATUS[location].status
    assert (status.done, status.total) == (0, 8)
    assert ("0 / 8 views", "PROGRESS") in job_lines(props)

    run_children(moto_aws, run, user_resources)
    jobs.STATUS[location].at = 0.0  # due: the panel's timer asks again (blender -b fires no timers: tick by hand)
    jobs._tick()
    jobs.wait()
    assert ("8 / 8 views", "PROGRESS") in job_lines(props)
    assert not any(icon == "ERROR" for _, icon in job_lines(props))

    assert bpy.ops.nerf_dataset.job_download() == {"FINISHED"}
    assert bpy.ops.nerf_dataset.job_download() == {"FINISHED"}  # our own previous dataset is replaced
    out = Path(props.output_dir)
    r = subprocess.run([sys.executable, str(CLI), "validate", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and "0 problems in 8 views" in r.stdout, r.stdout + r.stderr
    assert "validate: 0 problems" in jobs.ACTIONS[location].result

    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend), compress=True)
    assert blend.read_bytes().startswith(ZSTD_MAGIC)
    saved = blend_bytes(blend)
    assert saved.startswith(b"BLENDER") and location.encode() in saved
    assert ACCESS_KEY.encode() not in saved and SECRET_KEY.encode() not in saved
    for key, data in moto_aws.objects(props.s3_prefix).items():  # nor anything the job put in the bucket
        data = zstandard_or_plain(data)
        assert ACCESS_KEY.encode() not in data and SECRET_KEY.encode() not in data, key

    jobs.STATUS.clear(), jobs.FOLLOWED.clear()  # as in a new Blender session
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    reopened = bpy.context.scene.nerf_dataset
    assert (reopened.job_location, reopened.job_endpoint_url) == (location, moto_aws.url)
    assert job_lines(reopened)[0] == (f"AWS Batch: {location}", "NETWORK_DRIVE")
    assert job_lines(reopened)[1] == (f"via {moto_aws.url}, {REGION}", "URL")  # where Refresh would go
    jobs._tick()  # a job named by a file just opened is not asked until the user asks
    assert location not in jobs.STATUS and "Refresh to follow" in job_lines(reopened)[2][0]
    assert bpy.ops.nerf_dataset.job_refresh() == {"FINISHED"}
    assert ("8 / 8 views", "PROGRESS") in job_lines(reopened)


def test_a_folder_of_assets_is_a_job_from_the_panel(scene, fresh_bpy, moto_aws, tmp_path, user_resources, staged):
    """Target Folder or List with Where = AWS Batch: the collection's job, followed as assets done and failed."""
    from nerf_dataset.operators import following as jobs
    from nerf_dataset.panels.job import job_lines

    sys.path.insert(0, str(Path(__file__).parent))
    from collection_jobs import build_tree

    bpy, props = fresh_bpy, scene.nerf_dataset
    build_tree(tmp_path / "tree")
    props.target_kind, props.assets_path = "ASSETS", str(tmp_path / "tree")
    location = f"s3://{BUCKET}/{props.s3_prefix}"
    assert bpy.ops.nerf_dataset.render() == {"FINISHED"}
    assert len(staged) == 1 and not staged[0].exists()
    [run] = submissions(moto_aws, props.s3_prefix)
    run_children(moto_aws, run, user_resources)
    assert bpy.ops.nerf_dataset.job_refresh() == {"FINISHED"}
    lines = job_lines(props)
    assert ("5 / 7 assets done, 2 failed", "PROGRESS") in lines, lines
    assert {t.split(":")[0] for t, icon in lines if icon == "ERROR"} == {"extra/corrupt", "extra/empty"}, lines
    assert bpy.ops.nerf_dataset.job_download() == {"FINISHED"}
    assert "wrote 5 of 7 assets" in jobs.ACTIONS[location].result
    assert (Path(props.output_dir) / "index.csv").is_file()


def zstandard_or_plain(data: bytes) -> bytes:
    if data.startswith(ZSTD_MAGIC):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()
    return data


def test_a_slurm_job_from_the_panel(scene, fresh_bpy, slurm, monkeypatch, user_resources):
    """Slurm's job folder is the Output folder: submitted with sbatch, finalised in place by Download Results."""
    from nerf_dataset.operators import following as jobs

    for name in ("SLURM_CONF", "PATH"):  # sbatch and squeue reach the test's cluster; its tasks inherit these
        monkeypatch.setenv(name, slurm.env[name])
    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(user_resources))
    bpy, props = fresh_bpy, scene.nerf_dataset
    props.where, props.slurm_time = "SLURM", "10:00"
    assert bpy.ops.nerf_dataset.render() == {"FINISHED"}
    job = Path(props.output_dir)
    assert (props.job_location, props.job_backend) == (str(job), "slurm")
    submitted = jobs.ACTIONS[str(job)].result
    assert submitted.startswith("submitted ")
    slurm.wait(submitted.split()[-1], timeout=240)
    assert bpy.ops.nerf_dataset.job_refresh() == {"FINISHED"}
    status = jobs.STATUS[str(job)].status
    assert (status.done, status.total) == (8, 8) and {s.state for s in status.shards} == {"COMPLETED"}
    assert bpy.ops.nerf_dataset.job_download() == {"FINISHED"}
    r = subprocess.run([sys.executable, str(CLI), "validate", str(job)], capture_output=True, text=True)
    assert r.returncode == 0 and "0 problems in 8 views" in r.stdout, r.stdout + r.stderr


def test_slurm_values_are_refused_by_their_labels(scene, fresh_bpy):
    props = scene.nerf_dataset
    props.where, props.slurm_partition = "SLURM", "debug; rm -rf /"
    with pytest.raises(RuntimeError, match=re.escape("Partition 'debug; rm -rf /' is not a Slurm partition")):
        fresh_bpy.ops.nerf_dataset.render()
    assert not Path(props.output_dir).exists()


def test_in_the_ui_the_timer_ends_the_submission_and_keeps_the_status_bar(scene, fresh_bpy, monkeypatch, staged):
    """Outside ``blender -b`` the operator returns at once; the timer's ticks (called here by hand) say what runs
    in the status bar, store the job once it is submitted, clear the status bar and fetch the status."""
    from nerf_dataset.cloud import actions
    from nerf_dataset.operators import following as jobs
    from nerf_dataset.operators import jobs as job_ops
    from nerf_dataset.panels.job import job_lines

    monkeypatch.setattr(job_ops, "waits", lambda: False)
    gate, real = threading.Event(), actions.hand_over
    monkeypatch.setattr(actions, "hand_over", lambda *a: (gate.wait(60), real(*a))[1])
    props = scene.nerf_dataset
    location = f"s3://{BUCKET}/{props.s3_prefix}"
    assert fresh_bpy.ops.nerf_dataset.render() == {"FINISHED"}
    task = jobs.submitting(scene)
    jobs._tick()
    assert task.running and jobs._shown == f"Uploading job to {location}…" and props.job_location == ""
    with pytest.raises(RuntimeError, match="still being submitted"):
        fresh_bpy.ops.nerf_dataset.render()
    gate.set()
    while task.running:
        time.sleep(0.05)
    jobs._tick()  # ends it: the job is the scene's now; a fetch starts
    assert props.job_location == location and jobs.submitting(scene) is None and not staged[0].exists()
    jobs._tick()
    assert jobs._shown is None
    assert job_lines(props)[-1][0].startswith("Submitted ")
    assert fresh_bpy.ops.nerf_dataset.job_refresh() == {"FINISHED"}  # returns at once, the timer ends it
    deadline = time.monotonic() + 60
    while location not in jobs.STATUS or jobs.STATUS[location].status is None:
        assert time.monotonic() < deadline
        jobs._tick()
        time.sleep(0.05)
    assert ("0 / 8 views", "PROGRESS") in job_lines(props)


def test_retry_missing_cancel_and_forget(scene, fresh_bpy, moto_aws):
    from nerf_dataset.operators import following as jobs
    from nerf_dataset.panels.job import job_lines

    bpy, props = fresh_bpy, scene.nerf_dataset
    assert bpy.ops.nerf_dataset.render() == {"FINISHED"}
    location = props.job_location
    # moto's children "succeed" without rendering: every shard has missing views and none is running.
    assert bpy.ops.nerf_dataset.job_retry_missing() == {"FINISHED"}
    runs = submissions(moto_aws, props.s3_prefix)
    assert [r["shards"] for r in runs] == [[0, 1], [0, 1]]
    assert bpy.ops.nerf_dataset.job_cancel() == {"FINISHED"}
    assert jobs.ACTIONS[location].result == f"cancelled 2 AWS Batch submission(s): {runs[0]['id']}, {runs[1]['id']}"
    assert (jobs.ACTIONS[location].result[:1].upper() + jobs.ACTIONS[location].result[1:], "INFO") in job_lines(props)
    assert bpy.ops.nerf_dataset.job_forget() == {"FINISHED"}
    assert props.job_location == "" and location not in jobs.STATUS
    assert not bpy.ops.nerf_dataset.job_refresh.poll()


def test_bad_values_are_refused_by_their_labels_before_any_planning(scene, fresh_bpy, moto_aws, staged):
    bpy, props = fresh_bpy, scene.nerf_dataset
    cases = [
        ("batch_job_queue", "bad queue!", "Job Queue 'bad queue!' is not an AWS Batch job queue"),
        ("s3_profile", "no/such", "AWS Profile 'no/such' is not an S3 profile"),
        ("s3_endpoint_url", "ftp://x", "Endpoint URL 'ftp://x' is not an S3 endpoint url"),
        ("s3_bucket", "", "AWS Batch takes the job from S3: give a Bucket and a Prefix"),
        ("s3_prefix", "a/../b", "the prefix must be plain path words"),
    ]
    for name, value, expected in cases:
        good = getattr(props, name)
        setattr(props, name, value)
        with pytest.raises(RuntimeError, match=re.escape(expected)) as failure:
            bpy.ops.nerf_dataset.render()
        assert "Traceback" not in str(failure.value) and "--" not in str(failure.value)
        setattr(props, name, good)
    assert staged == [] and not moto_aws.objects(props.s3_prefix)
    assert props.job_location == ""


def test_a_refused_upload_is_one_sentence_and_leaves_nothing_behind(scene, fresh_bpy, moto_aws, staged):
    bpy, props = fresh_bpy, scene.nerf_dataset
    props.s3_bucket = "no-such-bucket"
    with pytest.raises(RuntimeError, match=r"no-such-bucket.*no such bucket") as failure:
        bpy.ops.nerf_dataset.render()
    assert "Traceback" not in str(failure.value) and len(str(failure.value).splitlines()) == 1
    assert len(staged) == 1 and not staged[0].exists()  # the staging folder is gone, its lock released with it
    assert props.job_location == ""
    from nerf_dataset.operators import following as jobs

    assert jobs.submitting(scene).error  # the panel shows the sentence under the Render button


def test_kubernetes_is_emitted_or_refused_in_one_sentence(scene, fresh_bpy, tmp_path):
    bpy, props = fresh_bpy, scene.nerf_dataset
    props.where, props.k8s_image, props.k8s_secret = "KUBERNETES", "nerf-dataset-worker:1", "aws-creds"
    with pytest.raises(RuntimeError, match="Kubernetes with a bucket needs an Emit Folder"):
        bpy.ops.nerf_dataset.render()
    props.k8s_emit_dir = str(tmp_path / "manifests")
    assert bpy.ops.nerf_dataset.render() == {"FINISHED"}
    [manifest] = (tmp_path / "manifests").glob("kubernetes-job-nerf-dataset-*.json")
    assert json.loads(manifest.read_text())["spec"]["completionMode"] == "Indexed"


def failed_status():
    """Shard 0 finished, shard 1 failed half-way, as ``job_status`` reports them."""
    from nerf_dataset.cloud.job import JobSpec
    from nerf_dataset.cloud.status import JobStatus, ShardStatus
    from nerf_dataset.operators import following as jobs

    spec = JobSpec(2, "0" * 64, "NeRF Demo Object", ("NeRF Demo Object",), "aws-batch", {})
    shards = [ShardStatus(0, 4, 4, "SUCCEEDED", 0, "", []),
              ShardStatus(1, 1, 4, "FAILED", 137, "", [1, 2, 3], "OutOfMemoryError: Container killed")]  # fmt: skip
    return jobs.Fetched(JobStatus(spec, None, shards), None, 1.0)


def test_the_job_box_names_failed_tasks(scene, fresh_bpy):
    """A shard the engine says FAILED shows with its line (state, exit code, reason); finished ones do not."""
    from nerf_dataset.operators import following as jobs
    from nerf_dataset.panels.job import job_lines

    props = scene.nerf_dataset
    props.job_location, props.job_backend = "s3://nerf-jobs/jobs/failed", "aws-batch"
    jobs.STATUS[props.job_location] = failed_status()
    lines = job_lines(props)
    assert ("5 / 8 views", "PROGRESS") in lines
    assert [t for t, icon in lines if icon == "ERROR"] == [
        "shard 1/2: 1/4 views, FAILED (exit 137): OutOfMemoryError: Container killed"
    ]


class Layout:
    """Stands in for the panel's layout: every property, operator and icon it names must exist."""

    def __init__(self, log):
        self.log = log

    def __getattr__(self, name):
        return lambda *args, **kw: self._call(name, args, kw)

    def _call(self, name, args, kw):
        import bpy

        if name == "prop":
            assert args[1] in args[0].bl_rna.properties, args[1]
        if name == "operator":
            group, op = args[0].split(".")
            assert getattr(getattr(bpy.ops, group), op).get_rna_type(), args[0]
        if "icon" in kw:
            assert kw["icon"] in bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items, kw["icon"]
        self.log.append((name, kw.get("text", args[1] if name == "prop" else args[0] if args else "")))
        return self


@pytest.mark.parametrize("where", ["LOCAL", "SLURM", "AWS_BATCH", "KUBERNETES"])
def test_the_panel_draws_each_choice_and_the_job(scene, fresh_bpy, where):
    from nerf_dataset.operators import following as jobs
    from nerf_dataset.operators.tasks import Task
    from nerf_dataset.panels.main import NERF_DATASET_PT_main

    props = scene.nerf_dataset
    props.where = where
    props.job_location, props.job_backend = "s3://nerf-jobs/jobs/drawn", "aws-batch"
    jobs.STATUS[props.job_location] = failed_status()
    gate = threading.Event()
    download = Task("Downloading", lambda progress: (progress(3, 8), gate.wait(60), "done")[-1]).start()
    jobs.ACTIONS[props.job_location] = download  # under way until the gate opens
    while download.counts != (3, 8):
        time.sleep(0.01)
    log = []
    NERF_DATASET_PT_main.draw(type("Panel", (), {"layout": Layout(log)})(), fresh_bpy.context)
    drawn = [what for _, what in log]
    assert "where" in drawn and ("shards" in drawn) == (where != "LOCAL")
    assert ("batch_job_queue" in drawn) == (where == "AWS_BATCH") and ("k8s_image" in drawn) == (where == "KUBERNETES")
    assert ("slurm_partition" in drawn) == (where == "SLURM")
    for op in ("refresh", "retry_missing", "download", "cancel", "forget"):
        assert f"nerf_dataset.job_{op}" in drawn
    gate.set()
    assert [what for name, what in log if name == "progress"] == ["5 / 8 views", "Downloading (3/8)"]
    download.wait()
    del jobs.ACTIONS[props.job_location], jobs.STATUS[props.job_location]


def test_the_installed_extension_zip_submits_to_aws_batch_and_downloads(tmp_path, moto_aws):
    spec = importlib.util.spec_from_file_location("package_tool", ROOT / "tools" / "package.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    zip_path = tool.for_this_machine(tool.build(tmp_path / "dist"))
    env = {**os.environ, **moto_aws.env, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    script = Path(__file__).with_name("where_session.py")
    aws = [str(CLI), moto_aws.url, BUCKET, QUEUE, DEFINITION, f"jobs/{tmp_path.name}"]
    r = subprocess.run([sys.executable, str(script), str(zip_path), str(tmp_path), *aws], capture_output=True,
                       text=True, env=env, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((tmp_path / "where.json").read_text())
    assert report["enabled"], report
    assert report["where"] == ["LOCAL", "SLURM", "AWS_BATCH", "KUBERNETES"]
    assert all(report["operators"].values()), report["operators"]
    assert report["no_secret_property"], report["properties"]
    location = f"s3://{BUCKET}/jobs/{tmp_path.name}"
    assert (report["submitted"], report["job_location"], report["array_size"]) == (["FINISHED"], location, 2)
    assert (report["before_children"], report["after_children"]) == ([0, 8], [8, 8])
    assert report["downloaded"] == ["FINISHED"]
    r = subprocess.run([sys.executable, str(CLI), "validate", str(tmp_path / "dataset")], capture_output=True,
                       text=True)  # fmt: skip
    assert r.returncode == 0 and "0 problems in 8 views" in r.stdout, r.stdout + r.stderr
    saved = blend_bytes(tmp_path / "saved.blend")
    assert location.encode() in saved
    assert ACCESS_KEY.encode() not in saved and SECRET_KEY.encode() not in saved


class Listener:
    """An endpoint that only counts what reaches it (a hostile file's own)."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                listener.requests.append(self.headers.get("Authorization", ""))
                self.send_response(404)
                self.end_headers()

            do_HEAD = do_PUT = do_POST = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_job_is_asked_only_through_the_endpoint_its_own_scene_names(scene, fresh_bpy, moto_aws):
    from nerf_dataset.operators import following as jobs

    bpy, props = fresh_bpy, scene.nerf_dataset
    assert bpy.ops.nerf_dataset.render() == {"FINISHED"}
    hostile, listener = bpy.data.scenes.new("A hidden"), Listener()  # sorts first, same location
    hostile.nerf_dataset.job_location, hostile.nerf_dataset.job_backend = props.job_location, "aws-batch"
    hostile.nerf_dataset.job_endpoint_url = listener.url
    assert bpy.ops.nerf_dataset.job_refresh() == {"FINISHED"}
    for key in list(jobs.STATUS):
        jobs.STATUS[key].at = 0.0  # every job due now
    jobs._tick()
    jobs.wait()
    assert listener.requests == []  # the user followed the job through moto, not through the other scene
    listener.server.shutdown()


def test_opening_another_file_forgets_what_this_session_followed(scene, fresh_bpy, tmp_path):
    from nerf_dataset.operators import following as jobs

    bpy = fresh_bpy
    assert bpy.ops.nerf_dataset.render() == {"FINISHED"}
    assert jobs.FOLLOWED
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "a.blend"))
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "a.blend"))
    assert not jobs.FOLLOWED and not jobs.STATUS  # the file's job waits for Refresh, even this same file's
