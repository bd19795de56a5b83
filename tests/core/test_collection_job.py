"""Issue 23 without Blender: what an asset carries into a job, a collection job made and read as hostile input, and
every refusal of a submission in one sentence with nothing left behind."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from nerf_dataset.core.asset_bundle import find_bundle
from nerf_dataset.core.asset_index import AssetRecord, write_index, write_record

CLI = Path(__file__).resolve().parents[2] / "cli.py"
ARGS = ["--train", "2", "--val", "1", "--test", "1", "--resolution", "32x32"]
TRIANGLE = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"


def cli(*args, tmp_path: Path) -> subprocess.CompletedProcess:
    """``cli.py`` where ``import bpy`` fails: submitting a collection needs no Blender."""
    stub = tmp_path / "no_bpy" / "bpy"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text("raise ImportError('no Blender here')\n")
    env = {**os.environ, "PYTHONPATH": str(stub.parent)}
    return subprocess.run([sys.executable, str(CLI), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def one_sentence(r: subprocess.CompletedProcess, code: int = 2) -> str:
    assert r.returncode == code and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def shapenet(root: Path, name: str, texture: bytes = b"PNG") -> Path:
    model = root / name / "models" / "model_normalized.obj"
    model.parent.mkdir(parents=True)
    (root / name / "images").mkdir()
    (root / name / "images" / "wood grain.png").write_bytes(texture)
    (root / name / "images" / "bump.png").write_bytes(b"bump")
    (model.parent / "model normalized.mtl").write_text(
        "newmtl a\nmap_Kd -s 1 1 1 -bm 0.5 ../images/wood_grain.png\nbump ../images/bump.png\n"
        "map_Ks /etc/passwd\nmap_d ../../../outside.png\nmap_Ka missing.png\n"
    )
    model.write_text("mtllib model normalized.mtl\n" + TRIANGLE)
    return model


def test_an_obj_carries_its_materials_and_textures_and_nothing_outside(tmp_path):
    (tmp_path / "outside.png").write_bytes(b"secret")
    root = tmp_path / "tree"
    bundle = find_bundle(shapenet(root, "a"), root)
    assert bundle.model == "models/model_normalized.obj"
    files = ["images/bump.png", "images/wood grain.png", "models/model normalized.mtl", "models/model_normalized.obj"]
    assert [rel for rel, _, _ in bundle.files] == files
    twin = find_bundle(shapenet(root, "b"), root)
    other = find_bundle(shapenet(root, "c", texture=b"other"), root)
    assert twin.id == bundle.id != other.id  # stored once per content, wherever it lies


def test_gltf_buffers_and_images_travel_and_a_glb_names_its_own(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "mesh data.bin").write_bytes(b"\0" * 12)
    (tmp_path / "m" / "tex.png").write_bytes(b"png")
    images = [{"uri": "tex.png"}, {"uri": "https://example.com/x.png"}, {"uri": "../../etc/passwd"}]
    doc = {
        "buffers": [{"uri": "mesh%20data.bin"}, {"uri": "data:application/octet-stream;base64,AAAA"}],
        "images": images,
    }
    (tmp_path / "m" / "a.gltf").write_text(json.dumps(doc))
    assert [r for r, _, _ in find_bundle(tmp_path / "m" / "a.gltf", tmp_path / "m").files] == [
        "a.gltf", "mesh data.bin", "tex.png"]  # fmt: skip
    js = json.dumps({"images": [{"uri": "tex.png"}]}).encode()
    js += b" " * (-len(js) % 4)
    glb = struct.pack("<4sII", b"glTF", 2, 20 + len(js)) + struct.pack("<I4s", len(js), b"JSON") + js
    (tmp_path / "m" / "b.glb").write_bytes(glb)
    assert [r for r, _, _ in find_bundle(tmp_path / "m" / "b.glb", tmp_path / "m").files] == ["b.glb", "tex.png"]


def test_the_index_is_written_a_record_at_a_time_with_json_dumps_bytes(tmp_path):
    records = [AssetRecord("a/b", "/x.obj", "done", "", 3, {"mode": "unit-cube", "model_to_world": [[1, 0], [0, 1]]},
                           (0.5, 1.0), (2.0, 3.0), 1.25), AssetRecord("c", "/y.obj", "failed", "no mesh")]  # fmt: skip
    for some in ([], records):
        assert write_index(tmp_path, iter(some)) == len(some)
        assert (tmp_path / "index.json").read_text() == json.dumps([r.to_json() for r in some], indent=2) + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.csv", "index.json"]


def test_a_collection_job_is_made_without_blender_once_per_content(tmp_path):
    tree = tmp_path / "tree"
    for name in ("a", "b"):
        shapenet(tree, f"s/{name}")
    job = tmp_path / "job"
    r = cli("submit", "--backend", "slurm", "--emit", "--job", job, "--shards", "2", "--import-dir", tree, *ARGS,
            tmp_path=tmp_path)  # fmt: skip
    assert r.returncode == 0 and "slurm-array.sh" in r.stdout, r.stderr
    spec = json.loads((job / ".nerf_dataset/job.json").read_text())
    assert (spec["kind"], spec["format"], spec["shards"], spec["assets"]) == ("collection", 3, 2, 2)
    assert len(list((job / ".nerf_collection/assets").iterdir())) == 1  # two copies of one model: stored once
    batch = json.loads((job / ".nerf_collection/batch.json").read_text())
    assert [row[0] for row in batch["assets"]] == ["s/a", "s/b"] and batch["cache"] is None
    assert all(row[3].startswith(".nerf_collection/assets/") for row in batch["assets"])
    r = cli("status", "--job", job, tmp_path=tmp_path)  # nothing submitted: both blocks missing
    assert "status: 0/2 assets done, 0 failed, 0 running, 2 missing in 2 shards (slurm)" in r.stdout, (
        r.stdout + r.stderr
    )
    write_record(job, AssetRecord("s/a", "/x", "done", views=4))
    write_record(job, AssetRecord("s/b", "/y", "failed", "no mesh"))
    r = cli("status", "--job", job, tmp_path=tmp_path)
    assert "failed: s/b: no mesh" in r.stdout and "1/2 assets done, 1 failed" in r.stdout, r.stdout + r.stderr
    r = cli("collect", "--job", job, "--out", tmp_path / "out", tmp_path=tmp_path)
    assert "its files do not match its record" not in r.stderr  # s/a has no dataset: refused, its record dropped
    assert one_sentence(r, 1).startswith("cli.py collect: failed: 1 assets of") and not (tmp_path / "out").exists()
    r = cli("status", "--job", job, tmp_path=tmp_path)
    assert "0/2 assets done, 1 failed, 0 running, 1 missing" in r.stdout, r.stdout


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda job: _json(job / ".nerf_dataset/job.json", shards=0), "job.json is damaged"),
        (lambda job: _json(job / ".nerf_dataset/job.json", asset_timeout="300"), "job.json is damaged"),
        (lambda job: _json(job / ".nerf_dataset/job.json", format=9), "needs job format 9"),
        (lambda job: (job / ".nerf_collection/batch.json").write_text("{}"), "does not match the digest"),
        (
            lambda job: _restored(job, lambda b: b["assets"][0].__setitem__(3, ".nerf_collection/assets/../../x")),
            "is damaged",
        ),
        (lambda job: _restored(job, lambda b: b["assets"][0].__setitem__(0, "../up")), "is damaged"),
    ],
)
def test_a_damaged_collection_job_is_refused_in_one_sentence(tmp_path, edit, words):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "m.obj").write_text(TRIANGLE)
    job = tmp_path / "job"
    assert cli("submit", "--backend", "slurm", "--emit", "--job", job, "--import-dir", tree, *ARGS,
               tmp_path=tmp_path).returncode == 0  # fmt: skip
    edit(job)
    for command in (["status"], ["collect"], ["worker", "--shard", "0/1"]):
        assert words in one_sentence(cli(*command, "--job", job, tmp_path=tmp_path)), command


def _json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _restored(job: Path, change) -> None:
    """The batch edited and its digest in job.json made to match: only the batch's own checks stand."""
    import hashlib

    path = job / ".nerf_collection/batch.json"
    batch = json.loads(path.read_text())
    change(batch)
    path.write_text(json.dumps(batch))
    _json(job / ".nerf_dataset/job.json", digest=hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--import-list", "{list}"], "lists no assets"),
        (["--import-dir", "{tree}", "--shards", "0"], "--shards"),
        (["--import-dir", "{tree}", "--shards", "3"], "--shards 3 is more than the collection's 2 assets"),
        (["--import-dir", "{tree}", "--object", "Cube"], "--object names a scene's object"),
        (["--blend", "{tree}/x.blend", "--asset-timeout", "9"], "--asset-timeout belongs to a collection"),
        (["--import-dir", "{tree}", "--retry-failed"], "--retry-failed goes with --retry-missing"),
        (["--import-dir", "{tree}", "--job", "{foreign}"], "not a collection job of this tool"),
    ],
)
def test_a_bad_submission_is_one_sentence_and_leaves_nothing(tmp_path, args, words):
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("m", "n"):
        (tree / f"{name}.obj").write_text(TRIANGLE)
    (tmp_path / "list.txt").write_text("# nothing\n")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    values = {"list": tmp_path / "list.txt", "tree": tree, "foreign": foreign}
    args = [a.format(**values) for a in args]
    job = [] if "--job" in args else ["--job", str(tmp_path / "job")]
    r = cli("submit", "--backend", "slurm", "--emit", *job, *args, *ARGS, tmp_path=tmp_path)
    assert words in one_sentence(r), r.stderr
    assert not (tmp_path / "job").exists()
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_a_second_submission_to_a_collection_job_needs_overwrite(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "m.obj").write_text(TRIANGLE)
    job = tmp_path / "job"
    submit = ["submit", "--backend", "slurm", "--emit", "--job", job, "--import-dir", tree, *ARGS]
    assert cli(*submit, tmp_path=tmp_path).returncode == 0
    assert "give --overwrite to replace it" in one_sentence(cli(*submit, tmp_path=tmp_path))
    (job / "m").mkdir()  # an asset's dataset folder: the job's own
    r = cli(*submit, "--overwrite", tmp_path=tmp_path)
    assert r.returncode == 0 and not (job / "m").exists(), r.stderr
    (job / "mine.txt").write_text("the user's")
    assert "did not write (mine.txt)" in one_sentence(cli(*submit, "--overwrite", tmp_path=tmp_path))
    assert (job / "mine.txt").read_text() == "the user's"


@pytest.mark.parametrize(
    ("engine", "flags", "index"),
    [
        ("kubernetes", ["--image", "registry.example/nerf:1", "--pvc", "jobs"], "JOB_COMPLETION_INDEX"),
        ("gcp-batch", ["--image", "registry.example/nerf:1", "--gcs-bucket", "bucket"], "BATCH_TASK_INDEX"),
    ],
)
def test_a_collection_job_on_a_volume_is_emitted_for_the_container_engines(tmp_path, engine, flags, index):
    """Kubernetes and Google Cloud Batch run the same worker on the job folder their volume holds; each task's
    index picks its block of assets."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("m", "n", "o"):
        (tree / f"{name}.obj").write_text(TRIANGLE)
    job = tmp_path / "job"
    r = cli("submit", "--backend", engine, "--job", job, "--shards", "3", *flags, "--import-dir", tree, *ARGS,
            tmp_path=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    [emitted] = (job / ".nerf_dataset/backend").glob("*.json")
    text = emitted.read_text()
    assert '"worker"' in text and f"/{job.name}" in text and index not in text  # the engine sets it, not us
    assert json.loads((job / ".nerf_dataset/job.json").read_text())["backend"] == engine


def _job_of(tmp_path: Path, names=("m", "n")) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir(exist_ok=True)
    for name in names:
        (tree / f"{name}.obj").write_text(TRIANGLE)
    job = tmp_path / "job"
    r = cli("submit", "--backend", "slurm", "--emit", "--job", job, "--shards", "1", "--import-dir", tree, *ARGS,
            tmp_path=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return job


def test_a_manifest_path_out_of_the_job_is_refused(tmp_path):
    import hashlib

    from nerf_dataset.cloud.collection_job import read_collection_job, read_manifest
    from nerf_dataset.cloud.engines import ENGINES
    from nerf_dataset.core.errors import UserError

    job = _job_of(tmp_path)
    path = job / ".nerf_collection/assets.json"
    manifest = json.loads(path.read_text())
    bundle = next(iter(manifest))
    manifest[bundle]["files"]["../" * 12 + "tmp/PWNED.txt"] = [3, "0" * 64]
    path.write_text(json.dumps(manifest))
    _json(job / ".nerf_dataset/job.json", assets_digest=hashlib.sha256(path.read_bytes()).hexdigest())
    spec, _ = read_collection_job(job, ENGINES)
    with pytest.raises(UserError, match="assets.json is damaged"):
        read_manifest(job, spec)


def test_links_planted_in_a_job_and_damaged_records_are_refused(tmp_path):
    job = _job_of(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (job / "m").symlink_to(outside)
    for command in (["worker", "--shard", "0/1"], ["collect", "--out", tmp_path / "out"]):
        write_record(job, AssetRecord("m", "/x", "done", views=3))
        write_record(job, AssetRecord("n", "/y", "failed", "no mesh"))
        r = cli(*command, "--job", job, tmp_path=tmp_path)
        assert "m is a link this tool did not make" in one_sentence(r), r.stderr
    assert list(outside.iterdir()) == [] and not (tmp_path / "out").exists()
    (job / "m").unlink()
    record = job / ".nerf_collection/records/n/record.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "normalization": [1, 2]}))  # the wrong type
    r = cli("collect", "--job", job, "--out", tmp_path / "out", tmp_path=tmp_path)
    assert "are not finished (n)" in one_sentence(r, 1)


def test_a_job_is_never_replaced_under_its_workers_nor_a_shard_rendered_twice(tmp_path):
    from nerf_dataset.app.lock import OutputLock

    job = _job_of(tmp_path)
    worker = OutputLock(job, shared=True).acquire()  # a worker of the job runs
    r = cli("submit", "--backend", "slurm", "--emit", "--job", job, "--import-dir", tmp_path / "tree", "--overwrite",
            *ARGS, tmp_path=tmp_path)  # fmt: skip
    assert "--job" in one_sentence(r) and "is in use by" in r.stderr
    assert (job / ".nerf_dataset/job.json").is_file() and (job / ".nerf_collection/batch.json").is_file()
    worker.release()
    shard = OutputLock(job, lock=".nerf_dataset/shards/collection-0.lock").acquire()  # its block renders
    r = cli("worker", "--job", job, "--shard", "0/1", tmp_path=tmp_path)
    assert "block 0/1" in one_sentence(r) and "in use" in r.stderr
    shard.release()


def test_collect_replaces_only_a_collection_of_its_own(tmp_path):
    job = _job_of(tmp_path)
    for name in ("m", "n"):
        write_record(job, AssetRecord(name, "/x", "failed", "no mesh"))
    out = tmp_path / "out"
    assert cli("collect", "--job", job, "--out", out, tmp_path=tmp_path).returncode == 1
    assert cli("collect", "--job", job, "--out", out, "--overwrite", tmp_path=tmp_path).returncode == 1
    (out / "README.txt").write_text("the user's")
    r = cli("collect", "--job", job, "--out", out, "--overwrite", tmp_path=tmp_path)
    assert "did not write there (README.txt)" in one_sentence(r)
    assert (out / "README.txt").read_text() == "the user's" and (out / "index.csv").is_file()


def test_a_link_to_a_file_outside_the_collection_is_never_carried(tmp_path):
    secret = tmp_path / "secret.obj"
    secret.write_text(TRIANGLE + "# the user's secret\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "evil.obj").symlink_to(secret)
    (tree / "m.obj").write_text(TRIANGLE)
    job = tmp_path / "job"
    r = cli("submit", "--backend", "slurm", "--emit", "--job", job, "--import-dir", tree, *ARGS, tmp_path=tmp_path)
    assert r.returncode == 0 and "evil: " in r.stderr and "outside the collection" in r.stderr, r.stderr
    stored = b"".join(p.read_bytes() for p in (job / ".nerf_collection/assets").rglob("*") if p.is_file())
    assert b"secret" not in stored
    (tree / "m.obj").unlink()
    r = cli("submit", "--backend", "slurm", "--emit", "--job", tmp_path / "job2", "--import-dir", tree, *ARGS,
            tmp_path=tmp_path)  # fmt: skip
    assert "none of the collection's 1 assets can be read" in r.stderr.splitlines()[-1]
    assert r.returncode == 2 and not (tmp_path / "job2").exists()


def test_a_model_of_many_mtllib_lines_is_read_once_and_bounded(tmp_path):
    from nerf_dataset.core.asset_bundle import MAX_REFERENCES, _mtllib_names

    model = tmp_path / "m.obj"
    model.write_bytes(b"mtllib a.mtl\n" * 200_000 + TRIANGLE.encode())
    assert len(_mtllib_names(model)) == MAX_REFERENCES


def test_a_refused_overwrite_leaves_the_old_job_and_a_user_folder_named_like_an_asset(tmp_path):
    job = _job_of(tmp_path)
    write_record(job, AssetRecord("m", "/x", "done", views=3))
    (job / "m/.nerf_dataset").mkdir(parents=True)
    (job / "m/.nerf_dataset/plan.json").write_text("{}")
    write_record(job, AssetRecord("n", "/y", "failed", "no mesh", normalization={"mode": "x", "junk": 1.0}))
    before = sorted(str(p.relative_to(job)) for p in job.rglob("*"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "m.obj").symlink_to("/etc/passwd")
    r = cli("submit", "--backend", "slurm", "--emit", "--job", job, "--import-dir", bad, "--overwrite", *ARGS,
            tmp_path=tmp_path)  # fmt: skip
    assert "can be read" in r.stderr.splitlines()[-1] and r.returncode == 2
    assert sorted(str(p.relative_to(job)) for p in job.rglob("*")) == before  # the old job as it was
    out = tmp_path / "out"
    assert cli("collect", "--job", job, "--out", out, tmp_path=tmp_path).returncode == 1
    (out / "n").mkdir()
    (out / "n" / "notes.txt").write_text("the user's, in a folder named like a failed asset")
    r = cli("collect", "--job", job, "--out", out, "--overwrite", tmp_path=tmp_path)
    assert "did not write there (n)" in one_sentence(r)
    record = job / ".nerf_collection/records/n/record.json"
    record.write_text(record.read_text().replace("1.0", "NaN"))  # not JSON's: the record is damaged
    assert "are not finished (n)" in one_sentence(cli("collect", "--job", job, tmp_path=tmp_path), 1)
