"""Issue 13: a collection (ShapeNet-style tree, a .glb, a .ply, an empty and a corrupt model) rendered into one
dataset per asset by one Blender process; URL lists through a local HTTP server; kill -9 and --resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from collection_assets import RED, SYNSETS, TEXTURED, build_collection, l_block, write_obj
from PIL import Image
from test_geometric_truth import check_view

ARGS = ["--train", "4", "--val", "1", "--test", "1", "--resolution", "64x64", "--samples", "16", "--transparent"]
ROOT = Path(__file__).resolve().parents[2]


def passes(result) -> bool:
    """As test_geometric_truth's, with the IoU bound for thin normalised objects at 64 px (an anti-aliased edge
    pixel is a larger share of them); the centroid bound is what catches a wrong camera."""
    return result["iou"] >= 0.9 and result["centroid_px"] <= 0.25


def _cli(*args, **kw) -> subprocess.CompletedProcess:
    from conftest import run_cli

    return run_cli(*args, **kw)


def _views(folder: Path):
    """(alpha, c2w, K) of every view of a NeRF-synthetic dataset, as its loaders read it."""
    for split in ("train", "val", "test"):
        meta = json.loads((folder / f"transforms_{split}.json").read_text())
        for f in meta["frames"]:
            image = np.asarray(Image.open(folder / (f["file_path"] + ".png")))
            w = image.shape[1]
            fl = 0.5 * w / np.tan(0.5 * meta["camera_angle_x"])
            K = np.array([[fl, 0, w / 2], [0, fl, image.shape[0] / 2], [0, 0, 1]])
            yield image, np.array(f["transform_matrix"]), K


def _world(record: dict, v: np.ndarray) -> np.ndarray:
    m = np.array(record["normalization"]["model_to_world"])
    return v @ m[:3, :3].T + m[:3, 3]


def _silhouettes(folder: Path, vertices: np.ndarray, triangles: np.ndarray) -> list[dict]:
    mesh = {"vertices": vertices, "triangles": triangles}
    return [check_view(image[..., 3] / 255.0, c2w, K, mesh) for image, c2w, K in _views(folder)]


@pytest.fixture(scope="module")
def batch(tmp_path_factory, user_resources):
    tmp = tmp_path_factory.mktemp("collection")
    good = build_collection(tmp / "tree")
    r = _cli("--import-dir", tmp / "tree", "--out", tmp / "out", *ARGS, user_resources=user_resources)
    index = {row["id"]: row for row in json.loads((tmp / "out" / "index.json").read_text())}
    return tmp, good, r, index


def test_every_good_model_is_a_dataset_and_the_bad_ones_fail_alone(batch, user_resources):
    tmp, good, r, index = batch
    assert r.returncode == 1 and "2 of 10 assets" in r.stderr, r.stderr
    assert {i for i, row in index.items() if row["status"] == "done"} == set(good)
    assert "no faces" in index["extra/empty"]["reason"]
    assert "cannot import corrupt.glb" in index["extra/corrupt"]["reason"]
    csv = (tmp / "out" / "index.csv").read_text().splitlines()
    assert csv[0].startswith("id,source,status,reason,views") and len(csv) == 11
    for asset in good:  # every consumer's rules, and the silhouettes of the model imported as the batch did
        model = index[asset]["source"]
        v = _cli("validate", tmp / "out" / asset, "--import", model, "--normalize", "unit-cube",
                 user_resources=user_resources)  # fmt: skip
        assert v.returncode == 0 and "0 problems" in v.stdout + v.stderr, v.stdout + v.stderr


def test_each_dataset_matches_its_own_mesh_through_the_recorded_transform(batch):
    tmp, good, _, index = batch
    for asset, (v, t, _) in good.items():
        world = _world(index[asset], v)
        assert np.all(world >= -0.5 - 1e-6) and np.all(world <= 0.5 + 1e-6)  # the promised unit cube
        assert np.isclose(np.max(world.max(axis=0) - world.min(axis=0)), 1.0)
        bad = [r for r in _silhouettes(tmp / "out" / asset, world, t) if not passes(r)]
        assert not bad, (asset, bad)


def test_a_shapenet_model_lands_upright(batch):
    """ShapeNet's .obj is Y-up: its tower (file +Y) must point to Blender's +Z."""
    _, good, _, index = batch
    synset, model = next(iter(SYNSETS.items()))
    v, _, _ = good[f"{synset}/{model[0]}"]
    m = np.array(index[f"{synset}/{model[0]}"]["normalization"]["model_to_world"])
    assert np.allclose(m[:3, :3] @ [0, 1, 0] / np.linalg.norm(m[:3, 1]), [0, 0, 1])


def test_textures_render(batch):
    tmp, _, _, _ = batch
    folder = tmp / "out" / "/".join(TEXTURED)
    image, _, _ = next(_views(folder))
    painted = image[image[..., 3] > 250][:, :3].astype(float).mean(axis=0)
    assert painted[0] > 2 * painted[1] and painted[0] > 2 * painted[2], painted  # red, from the .mtl's PNG
    grey = next(_views(tmp / "out" / "extra" / "scan"))[0]
    plain = grey[grey[..., 3] > 250][:, :3].astype(float).mean(axis=0)
    assert abs(plain[0] - plain[1]) < 0.2 * plain.mean()
    assert RED[0] > RED[1]


def test_the_wrong_up_axis_is_visibly_rotated(tmp_path, user_resources):
    """Told the Y-up model is Z-up, the asset is rendered lying down: with the model's true axes and the recorded
    normalisation, its silhouettes fail; with the right option they pass."""
    v, t = l_block(2)
    write_obj(tmp_path / "m" / "m.obj", v, t)
    (tmp_path / "list.txt").write_text("m/m.obj chair\n")
    for up, ok in (("Y", True), ("Z", False)):  # told "Z", the importer takes the file as Z-up, Y-forward
        out = tmp_path / f"out_{up}"
        r = _cli("--import-list", tmp_path / "list.txt", "--out", out, "--up-axis", up, *ARGS,
                 user_resources=user_resources)  # fmt: skip
        assert r.returncode == 0, r.stderr
        record = json.loads((out / "index.json").read_text())[0]
        true_axes = np.eye(4)
        true_axes[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # Y-up, -Z forward: what the file really is
        move = np.array(record["normalization"]["model_to_world"]) @ np.linalg.inv(_axes(up))
        world = v @ (move @ true_axes)[:3, :3].T + (move @ true_axes)[:3, 3]
        results = _silhouettes(out / "chair", world, t)
        assert all(passes(r) for r in results) == ok, results


def _axes(up: str) -> np.ndarray:
    """The importer's conversion for Y-up, -Z forward (.obj's default) or Z-up, Y forward (Blender's own)."""
    m = np.eye(4)
    if up == "Y":
        m[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]
    return m


class _Server:
    """Files of a folder over HTTP on loopback, counting the GETs of each path; /redirect goes to file://."""

    def __init__(self, folder: Path):
        self.folder, self.hits = folder, {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "file:///etc/passwd")
                    self.end_headers()
                    return
                path = server.folder / self.path.split("?")[0].lstrip("/")
                if not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_a_url_list_downloads_once_and_refuses_what_it_must(tmp_path, user_resources):
    import hashlib

    v, t = l_block(1)
    write_obj(tmp_path / "www" / "good.obj", v, t)
    (tmp_path / "www" / "big.obj").write_bytes(b"# padding\n" * 220_000)  # 2.2 MB, over a 1 MB limit
    server = _Server(tmp_path / "www")
    try:
        digest = hashlib.sha256((tmp_path / "www" / "good.obj").read_bytes()).hexdigest()
        (tmp_path / "urls.txt").write_text(
            f"{server.url}/good.obj good {digest}\n{server.url}/good.obj?copy wrongsum {'0' * 64}\n"
            f"{server.url}/big.obj big\n{server.url}/redirect.obj elsewhere\n"
        )
        (tmp_path / "www" / "redirect.obj").write_text("")  # never served: /redirect is asked
        (tmp_path / "urls.txt").write_text((tmp_path / "urls.txt").read_text().replace("/redirect.obj", "/redirect"))
        common = [
            "--import-list",
            tmp_path / "urls.txt",
            "--cache",
            tmp_path / "cache",
            "--max-download-mb",
            "1",
            *ARGS,
        ]
        r = _cli(*common, "--out", tmp_path / "one", user_resources=user_resources)
        index = {row["id"]: row for row in json.loads((tmp_path / "one" / "index.json").read_text())}
        assert r.returncode == 1 and index["good"]["status"] == "done", r.stderr
        assert "sha256" in index["wrongsum"]["reason"] and "not the 000000" in index["wrongsum"]["reason"]
        assert "1 MB limit" in index["big"]["reason"]
        assert "redirects to a file URL" in index["elsewhere"]["reason"]
        assert server.hits["/good.obj"] == 1
        _cli(*common, "--out", tmp_path / "two", user_resources=user_resources)
        assert server.hits["/good.obj"] == 1  # the second run hits the cache
        assert (tmp_path / "two" / "good" / "transforms_train.json").is_file()
    finally:
        server.close()


def _dataset_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".nerf_collection" not in p.parts and p.name not in ("index.json", "index.csv")
        and ".nerf_dataset" not in p.parts
    }  # fmt: skip


def test_kill_9_then_resume_and_two_workers_give_the_uninterrupted_batch(tmp_path, user_resources):
    for k in range(5):
        v, t = l_block(k)
        write_obj(tmp_path / "tree" / f"m{k}.obj", v, t)
    args = ["--import-dir", str(tmp_path / "tree"), *map(str, ARGS), "--train", "12"]
    whole = _cli(*args, "--out", tmp_path / "whole", user_resources=user_resources)
    assert whole.returncode == 0, whole.stderr
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user_resources)}
    cmd = [sys.executable, str(ROOT / "cli.py"), *args, "--out", str(tmp_path / "cut")]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    records = tmp_path / "cut" / ".nerf_collection" / "records"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and sum('"done"' in r.read_text() for r in records.rglob("record.json")) < 2:
        time.sleep(0.05)
    time.sleep(0.3)  # into the third asset's render
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    done = sorted(r.parent.name for r in records.rglob("record.json") if '"done"' in r.read_text())
    assert 2 <= len(done) < 5
    before = {str(f): f.stat().st_mtime_ns for d in done for f in (tmp_path / "cut" / d).rglob("*") if f.is_file()}
    again = _cli(*args, "--out", tmp_path / "cut", "--resume", user_resources=user_resources)
    assert again.returncode == 0, again.stderr
    after = {f: Path(f).stat().st_mtime_ns for f in before}
    assert before == after  # finished assets untouched
    assert _dataset_bytes(tmp_path / "whole") == _dataset_bytes(tmp_path / "cut")
    two = _cli(*args, "--out", tmp_path / "two", "--workers", "2", user_resources=user_resources)
    assert two.returncode == 0, two.stderr
    assert _dataset_bytes(tmp_path / "whole") == _dataset_bytes(tmp_path / "two")  # sharded over assets
    shutil.rmtree(tmp_path / "whole")


SMALL = ["--train", "1", "--val", "0", "--test", "1", "--resolution", "32x32", "--samples", "2"]


def _sizes(out: Path) -> set[tuple[int, int]]:
    return {Image.open(p).size for p in out.rglob("r_*.png")}


def test_overwrite_redoes_a_finished_batch_and_resume_keeps_its_settings(tmp_path, user_resources):
    for k in range(2):
        v, t = l_block(k)
        write_obj(tmp_path / "tree" / f"m{k}.obj", v, t)
    base = ["--import-dir", tmp_path / "tree", "--out", tmp_path / "out", *SMALL]
    assert _cli(*base, user_resources=user_resources).returncode == 0
    r = _cli(*base, "--resolution", "16x16", "--resume", user_resources=user_resources)
    assert r.returncode == 2 and "made with" in r.stderr and "16" in r.stderr, r.stderr
    r = _cli(*base, "--resolution", "16x16", "--overwrite", "--workers", "2", user_resources=user_resources)
    assert r.returncode == 0 and _sizes(tmp_path / "out") == {(16, 16)}, r.stderr
    r = _cli(*base, "--resolution", "24x24", "--overwrite", user_resources=user_resources)
    assert r.returncode == 0 and _sizes(tmp_path / "out") == {(24, 24)}, r.stderr


def test_hostile_assets_fail_alone(tmp_path, user_resources):
    v, t = l_block(0)
    write_obj(tmp_path / "tree" / "good.obj", v, t)
    os.mkfifo(tmp_path / "tree" / "fifo.obj")
    from collection_assets import write_png

    write_png(tmp_path / "secret.png", (1, 2, 3))
    lines = ["mtllib m.mtl", "usemtl x", "vt 0 0", *[f"v {a} {b} {c}" for a, b, c in v]]
    lines += [f"f {a}/1 {b}/1 {c}/1" for a, b, c in t + 1]
    for name, texture in (("peeks", "../../secret.png"), ("unpainted", "nowhere.png")):
        (tmp_path / "tree" / name).mkdir()
        (tmp_path / "tree" / name / "m.obj").write_text("\n".join(lines) + "\n")
        (tmp_path / "tree" / name / "m.mtl").write_text(f"newmtl x\nmap_Kd {texture}\n")
    r = _cli("--import-dir", tmp_path / "tree", "--out", tmp_path / "out", *SMALL, user_resources=user_resources)
    index = {row["id"]: row for row in json.loads((tmp_path / "out" / "index.json").read_text())}
    assert r.returncode == 1 and index["good"]["status"] == "done", r.stderr
    assert index["fifo"]["status"] == "failed" and "not a regular file" in index["fifo"]["reason"]
    assert index["peeks/m"]["status"] == "failed" and "outside the asset's folder" in index["peeks/m"]["reason"]
    assert (
        index["unpainted/m"]["status"] == "done" and "missing textures: nowhere.png" in index["unpainted/m"]["reason"]
    )


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--max-download-mb", "0"], "--max-download-mb must be 1 to"),
        (["--up-axis", "Y", "--forward-axis", "-Y"], "lie on one axis"),
        (["--cache", "FILE"], "exists and is not a folder"),
        (["--cache", "OUT/mine"], "lies in --out"),
        (["--pattern", "*.glb", "LIST"], "--pattern filters --import-dir's files"),
        (["--normalize", "none"], "--normalize belongs to a collection"),
    ],
)
def test_a_collections_options_are_checked_once(tmp_path, extra, words, user_resources):
    v, t = l_block(0)
    write_obj(tmp_path / "tree" / "m.obj", v, t)
    (tmp_path / "FILE").write_text("")
    (tmp_path / "list.txt").write_text("tree/m.obj\n")
    src = ["--import-list", tmp_path / "list.txt"] if "LIST" in extra else ["--import-dir", tmp_path / "tree"]
    src = ["--demo"] if "--normalize" in extra else src
    extra = [str(tmp_path / e) if e in ("FILE", "OUT/mine") else e for e in extra if e != "LIST"]
    r = _cli(*src, "--out", tmp_path / "OUT", *extra, user_resources=user_resources)
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "OUT").exists()


def test_a_killed_overwrite_then_resume_gives_the_new_batch(tmp_path, user_resources):
    for k in range(4):
        v, t = l_block(k)
        write_obj(tmp_path / "tree" / f"m{k}.obj", v, t)
    base = ["--import-dir", str(tmp_path / "tree"), "--out", str(tmp_path / "out"), *SMALL]
    assert _cli(*base, user_resources=user_resources).returncode == 0  # 32 px
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user_resources)}
    cmd = [sys.executable, str(ROOT / "cli.py"), *base, "--resolution", "24x24", "--overwrite"]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    records = tmp_path / "out" / ".nerf_collection" / "records"
    deadline = time.monotonic() + 120
    begun = time.time_ns()
    while time.monotonic() < deadline and p.poll() is None:  # the first asset of the new batch is done
        try:
            fresh = [r for r in records.rglob("record.json") if r.stat().st_mtime_ns > begun]
            if any('"done"' in r.read_text() for r in fresh):
                break
        except FileNotFoundError:  # the overwrite is clearing the old records meanwhile
            pass
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    r = _cli(*base, "--resolution", "24x24", "--resume", user_resources=user_resources)
    assert r.returncode == 0 and _sizes(tmp_path / "out") == {(24, 24)}, r.stderr
    (tmp_path / "out" / ".nerf_collection" / "batch.json").write_text("[]")
    r = _cli(*base, "--resolution", "24x24", "--resume", user_resources=user_resources)
    assert r.returncode == 2 and "no readable settings" in r.stderr and "Traceback" not in r.stderr, r.stderr
    shutil.rmtree(tmp_path / "tree" / "m3.obj", ignore_errors=True)
    (tmp_path / "tree" / "m3.obj").unlink()  # taken out of the collection: its folder is still ours
    assert _cli(*base, "--overwrite", user_resources=user_resources).returncode == 0


def test_a_blend_whose_image_sequence_lies_outside_is_refused(tmp_path, fresh_bpy, user_resources):
    from collection_assets import write_png

    bpy = fresh_bpy
    write_png(tmp_path / "secret0001.png", (0, 255, 0))
    bpy.ops.mesh.primitive_cube_add()
    image = bpy.data.images.load(str(tmp_path / "secret0001.png"))
    image.source = "SEQUENCE"
    mat = bpy.data.materials.new("m")
    if bpy.app.version < (5, 0, 0):  # Blender 5 makes every material a node tree
        mat.use_nodes = True
    node = mat.node_tree.nodes.new("ShaderNodeTexImage")
    node.image = image
    mat.node_tree.links.new(node.outputs["Color"], mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"])
    bpy.context.active_object.data.materials.append(mat)
    (tmp_path / "tree").mkdir()
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "tree" / "e.blend"))
    r = _cli("--import-dir", tmp_path / "tree", "--out", tmp_path / "out", *SMALL, user_resources=user_resources)
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert r.returncode == 1 and "from outside the asset's folder" in index[0]["reason"], index


def test_a_second_run_on_a_collection_folder_is_refused_while_the_first_runs(tmp_path, user_resources):
    """Two runs would mix their settings and clear each other's records: the folder is the first run's."""
    for k in range(3):
        v, t = l_block(k)
        write_obj(tmp_path / "tree" / f"m{k}.obj", v, t)
    base = ["--import-dir", str(tmp_path / "tree"), "--out", str(tmp_path / "out"), *SMALL]
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(user_resources)}
    first = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), *base], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        batch = tmp_path / "out" / ".nerf_collection" / "batch.json"
        deadline = time.monotonic() + 120
        while not batch.is_file() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(first.pid, signal.SIGSTOP)  # mid-batch, holding the folder: as a slow render would
        for extra in (["--overwrite", "--samples", "3"], ["--resume"], ["--asset-shard", "0/2"]):
            r = _cli(*base, *extra, user_resources=user_resources)
            assert r.returncode == 2 and "is in use by pid" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    finally:
        os.killpg(first.pid, signal.SIGCONT)
        assert first.wait(timeout=300) == 0
    plans = [json.loads((tmp_path / "out" / f"m{k}" / ".nerf_dataset/plan.json").read_text()) for k in range(3)]
    assert {p["settings"]["samples"] for p in plans} == {2}  # the first run's, untouched by the refused ones


def test_blocks_by_hand_make_one_batch_and_skip_what_is_done(tmp_path, user_resources):
    """Blocks started by hand continue one batch (never two settings in one collection) and skip what is done."""
    for k in range(3):
        v, t = l_block(k)
        write_obj(tmp_path / "tree" / f"m{k}.obj", v, t)
    out = tmp_path / "out"
    base = ["--import-dir", str(tmp_path / "tree"), "--out", str(out), *SMALL]
    r = _cli(*base, "--asset-shard", "3/4", user_resources=user_resources)  # a block of none: starts the batch
    assert r.returncode == 0 and "holds none" in r.stdout, r.stderr
    r = _cli(*base, "--resolution", "24x24", "--asset-shard", "0/4", user_resources=user_resources)
    assert r.returncode == 2 and "--asset-shard continues the collection" in r.stderr, r.stderr
    assert _cli(*base, "--asset-shard", "0/4", user_resources=user_resources).returncode == 0
    done = (out / "m0" / "train" / "r_0.png").stat().st_mtime_ns
    assert _cli(*base, "--asset-shard", "0/4", user_resources=user_resources).returncode == 0  # nothing left to do
    assert (out / "m0" / "train" / "r_0.png").stat().st_mtime_ns == done
    assert _cli(*base, "--resume", user_resources=user_resources).returncode == 0
    assert [e["status"] for e in json.loads((out / "index.json").read_text())] == ["done"] * 3


def test_a_disk_that_fills_stops_the_batch_once_and_resume_finishes_it(tmp_path, small_disk, user_resources):
    """Every asset after a full disk would fail too: the batch stops at the first, in one sentence."""
    for k in range(12):
        v, t = l_block(k)
        write_obj(tmp_path / "tree" / f"m{k}.obj", v, t)
    out = small_disk / "out"
    base = ["--import-dir", tmp_path / "tree", "--out", out, *SMALL, "--resolution", "96x96", "--points", "0"]
    r = _cli(*base, user_resources=user_resources)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert last.startswith("cli.py: failed: No space left on device writing ") and last.endswith(
        "--resume finishes the collection"
    ), r.stderr
    assert r.stderr.count("failed:") == 1, r.stderr  # not one line per asset still to come
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_disk)], check=True)
    r = _cli(*base, "--resume", user_resources=user_resources)
    assert r.returncode == 0 and "wrote 12 of 12 assets" in r.stdout, r.stdout + r.stderr
