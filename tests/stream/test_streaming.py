"""Streaming into PyTorch with real Blender instances: delivery, annotations, back-pressure, safety, replay."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from nerf_dataset.stream import (  # noqa: E402
    InstanceLost,
    RemoteIterableDataset,
    launch,
    replay,
    wire,  # noqa: E402
)

pytestmark = pytest.mark.blender

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "stream_scripts.py"
OBJECT = "NeRF Demo Object"
SMALL = {"resolution": "64x64", "samples": 2, "train": 6, "val": 2, "test": 2}


def alpha_box(alpha: np.ndarray) -> list[float] | None:
    """The box of the alpha mask (alpha ≥ 0.5, as the mask pass: Cycles' pixel filter spreads a faint alpha
    about 0.75 px beyond the geometry's edge)."""
    ys, xs = np.nonzero(alpha >= 0.5)
    if not len(xs):
        return None
    return [xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0]


def dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


CUBE_SCENE = """
import bpy, sys
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
bpy.ops.mesh.primitive_cube_add(size=1.0)
bpy.context.active_object.name = "Cube"
sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
scene.collection.objects.link(sun)
sun.rotation_euler = (0.6, 0.2, 0.4)
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(cam)
scene.camera = cam
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])
"""


@pytest.fixture(scope="module")
def cube_blend(tmp_path_factory) -> Path:
    """blendtorch's demo scene: a unit cube, lit, whose 8 corners are the keypoints."""
    path = tmp_path_factory.mktemp("cube") / "cube.blend"
    subprocess.run([sys.executable, "-c", CUBE_SCENE, str(path)], check=True, capture_output=True)
    return path


HIDING_SCENE = CUBE_SCENE.replace(
    "bpy.ops.wm.save_as_mainfile",
    """bpy.data.objects["Cube"].hide_viewport = True  # still rendered: it must still hide what is inside it
for name, z in (("Inside", 0.0), ("Top", 0.6)):
    empty = bpy.data.objects.new(name, None)
    scene.collection.objects.link(empty)
    empty.location = (0.0, 0.0, z)
bpy.ops.mesh.primitive_cube_add(size=0.3, location=(0.0, 0.0, 0.6))
bpy.context.active_object.name = "Ghost"
bpy.context.active_object.hide_render = True  # not rendered: it must not hide Top
bpy.ops.wm.save_as_mainfile""",
)


RIGGED_SCENE = """
import bpy, sys
from mathutils import Euler
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
root = bpy.data.objects.new("Root", None)  # a glTF-style root: the target is an Empty
scene.collection.objects.link(root)
root.location, root.rotation_euler = (0.3, -0.2, 0.1), Euler((0.2, 0.1, 0.7))
bpy.ops.mesh.primitive_cube_add(size=1.0)
plank = bpy.context.active_object
plank.name = "Plank"
plank.parent, plank.location = root, (0.2, 0.0, 0.0)
plank.shape_key_add(name="Basis")
key = plank.shape_key_add(name="Lift")
key.data[0].co.z += 0.5
key.value = 1.0  # rendered deformed: vertex 0 is 0.5 higher than in the mesh
hand = bpy.data.objects.new("rig:Hand", None)
scene.collection.objects.link(hand)
hand.parent, hand.location = root, (0.0, 0.0, 0.8)
sun = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
scene.collection.objects.link(sun)
cam = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
scene.collection.objects.link(cam)
scene.camera = cam
print("REST", *plank.data.vertices[0].co)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])
"""


def test_keypoints_follow_deformation_and_an_empty_target_has_its_own_frame(tmp_path):
    scene = tmp_path / "rigged.blend"
    made = subprocess.run([sys.executable, "-c", RIGGED_SCENE, str(scene)], check=True, capture_output=True, text=True)
    line = next(ln for ln in made.stdout.splitlines() if ln.startswith("REST "))
    rest = np.array([float(x) for x in line.split()[1:]])
    (tmp_path / "helper.py").write_text("LIFT = 0.0\n")  # a module beside the randomisation script
    (tmp_path / "noop.py").write_text("import helper\n\n\ndef randomize(ctx):\n    return {'lift': helper.LIFT}\n")
    settings = {**SMALL, "engine": "CYCLES"}
    with launch(scene, settings=settings, views="random", object="Root", randomize=tmp_path / "noop.py",
                keypoints=["Plank:0", "rig:Hand"], seed=5) as L:  # fmt: skip
        items = list(RemoteIterableDataset(L, max_items=4).frames())
    flip = np.diag([1.0, -1.0, -1.0])
    for it in items:
        # in the Empty's own frame: the plank's deformed vertex 0, and the hand
        local = np.array([rest + [0.2, 0.0, 0.5], [0.0, 0.0, 0.8]])
        cam = (it["object_to_camera"][:3, :3] @ local.T).T + it["object_to_camera"][:3, 3]
        cam = cam @ flip.T
        expected = (cam @ it["K"].T)[:, :2] / cam[:, 2:3]
        np.testing.assert_allclose(it["keypoints"], expected, atol=1e-3)
        assert it["params"] == {"lift": 0.0}


def _corner_pixels(obj_to_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """The unit cube's corners in Blender's bound_box order, projected with the frame's own object pose."""
    order = [(0, 0, 0), (0, 0, 1), (0, 1, 1), (0, 1, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0)]
    local = np.array([[b - 0.5 for b in bits] + [1.0] for bits in order])
    cam = (obj_to_cam @ local.T).T[:, :3] * np.array([1.0, -1.0, -1.0])  # OpenGL camera -> OpenCV
    return (cam @ K.T)[:, :2] / cam[:, 2:3]


def test_visibility_is_the_render_s_and_k_follows_a_randomised_lens(tmp_path):
    scene = tmp_path / "hiding.blend"
    subprocess.run([sys.executable, "-c", HIDING_SCENE, str(scene)], check=True, capture_output=True)
    settings = {**SMALL, "samples": 16, "engine": "CYCLES"}
    with launch(scene, settings=settings, views="random", object="Cube", randomize=f"{SCRIPTS}:zoom",
                keypoints=["Inside", "Top"], seed=7) as L:  # fmt: skip
        items = list(RemoteIterableDataset(L, max_items=8).frames())
    lenses = {round(it["params"]["lens"], 3) for it in items}
    assert len(lenses) == 8
    for it in items:
        assert it["K"][0, 0] == pytest.approx(it["params"]["lens"] / 36.0 * 64, rel=1e-6)  # 36 mm sensor, 64 px
        box = alpha_box(it["image"][..., 3])
        assert np.abs(np.subtract(it["bbox"], box)).max() <= 1.0, (it["bbox"], box)
        np.testing.assert_allclose(it["box_corners"], _corner_pixels(it["object_to_camera"], it["K"]), atol=1e-4)
        inside, top = it["keypoints_visible"]
        assert not inside, "a point inside a rendered cube is hidden, even if the viewport hides the cube"
        u, v = it["keypoints"][1]
        assert top == (0 <= u < 64 and 0 <= v < 64), "a ghost (not rendered) hides nothing"


def _pick(value, k: int):
    """Item ``k`` of a collated batch value (tensors stack, lists and dicts collate element by element)."""
    if isinstance(value, dict):
        return {key: _pick(v, k) for key, v in value.items()}
    if isinstance(value, list):
        return [_pick(v, k) for v in value]
    return value[k]


def _batches_to_items(batches) -> list[dict]:
    return [_pick(b, k) for b in batches for k in range(len(b["seq"]))]


def test_two_instances_feed_a_dataloader_exactly_once_with_true_annotations(tmp_path, cube_blend):
    record = tmp_path / "recording"
    # 16 samples: with 2, one sample of a pixel beside the edge is already half its alpha
    settings = {**SMALL, "samples": 16, "engine": "CYCLES"}
    with launch(
        cube_blend, num_instances=2, settings=settings, views="random", object="Cube",
        randomize=f"{SCRIPTS}:tumble", keypoints=[f"Cube:{i}" for i in range(8)], seed=3, queue_size=2,
    ) as L:  # fmt: skip
        ds = RemoteIterableDataset(L, max_items=64, record=record)
        batches = list(DataLoader(ds, batch_size=4, num_workers=2))
        stats = L.stats()
    items = _batches_to_items(batches)
    assert len(items) == 64
    keys = {(int(it["instance"]), int(it["seq"])) for it in items}
    assert len(keys) == 64, "a frame was delivered twice"
    assert {i for i, _ in keys} == {0, 1}, "both instances contribute"
    assert sum(stats["received"].values()) <= 64 + 2 * 2  # rendered ahead at most the queue bound
    seen_visible = np.zeros(8, dtype=int)
    for it in items:
        image = it["image"].numpy()
        assert image.shape == (64, 64, 4)
        alpha = image[..., 3]
        box = alpha_box(alpha)
        assert box is not None and bool(it["in_view"])
        assert np.abs(np.subtract(it["bbox"].numpy(), box)).max() <= 1.0, (it["bbox"], box)
        uv, visible = it["keypoints"].numpy(), it["keypoints_visible"].numpy()
        assert visible.sum() < 8, "a box never shows all eight corners"
        seen_visible += visible
        near = dilate(alpha > 0)
        for (u, v), vis in zip(uv, visible):
            if vis:
                assert near[int(v), int(u)], "a visible keypoint lands on the rendered object"
        assert set(it["params"]) == {"rotation"}
    assert (seen_visible > 0).all() and (seen_visible < 64).all(), seen_visible
    # record -> replay: the same items, without Blender
    again = replay(record)
    assert len(again) == 64
    live = {(int(it["instance"]), int(it["seq"])): it for it in items}
    for k in range(len(again)):
        r = again[k]
        it = live[(r["instance"], r["seq"])]
        assert torch.equal(r["image"], it["image"])
        assert torch.equal(r["c2w"], it["c2w"]) and torch.equal(r["K"], it["K"])
        assert torch.equal(r["bbox"], it["bbox"]) and torch.equal(r["keypoints"], it["keypoints"])
        assert r["params"]["rotation"] == [float(x) for x in it["params"]["rotation"]]
        assert r["keypoint_names"] == [f"Cube:{i}" for i in range(8)]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_producers_stop_at_the_queue_bound_and_memory_stays_flat():
    with launch(None, num_instances=2, settings=SMALL, views="random", queue_size=3, seed=1) as L:
        it = RemoteIterableDataset(L).frames()
        taken, rss = 0, {}
        for _ in range(6):
            next(it)
            taken += 1
        time.sleep(3.0)  # a slow consumer: the instances must be waiting, not rendering
        first = L.stats()["received"]
        assert sum(first.values()) <= taken + 2 * 3
        time.sleep(2.0)
        assert L.stats()["received"] == first, "a producer rendered without credit"
        pids = L.pids()
        for _ in range(10):
            next(it)
        rss_before = {p: _rss_kib(p) for p in pids}
        for _ in range(40):
            next(it)
        rss = {p: _rss_kib(p) for p in pids}
        assert sum(L.stats()["received"].values()) <= 56 + 2 * 3
    for p in pids:
        assert rss[p] - rss_before[p] < 30 * 1024, f"instance RSS grew {rss_before[p]} -> {rss[p]} KiB"
        assert not Path(f"/proc/{p}").exists()


class _CreatesAFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):  # unpickling this opens (creates) the file
        return (open, (self.path, "w"))


def _closed(s: socket.socket) -> bool:
    try:
        return s.recv(100) == b""
    except ConnectionResetError:  # closed with our bytes unread
        return True


def test_peers_without_the_secret_and_pickles_are_refused_undecoded(tmp_path):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_CreatesAFile(str(marker)))
    with launch(None, num_instances=1, settings=SMALL, views="random") as L:
        # no secret: the pickle is sent as the answer to the challenge
        with socket.create_connection(L.address, timeout=10) as s:
            s.recv(len(wire.GREETING) + wire.NONCE)
            s.sendall(payload + b"\0" * 64)
            s.settimeout(10)
            assert _closed(s), "the hub closes the connection"
        # the secret, then a pickle instead of a message
        s = wire.connect(L.address, L.secret)
        s.sendall(payload)
        s.settimeout(10)
        assert _closed(s)
        s.close()
        # a wrong secret fails the handshake on the client side too
        with pytest.raises((wire.WireError, OSError)):
            wire.connect(L.address, b"x" * 32).close()
        stats = L.stats()
        # the stream still works for the real consumer
        frame = next(RemoteIterableDataset(L, max_items=1).frames())
        assert frame["image"].shape == (64, 64, 4)
    assert stats["refused"] == 2
    assert not marker.exists(), "nothing was unpickled"
    source = "".join(p.read_text() for p in (HERE.parents[1] / "stream").glob("*.py"))
    assert "import pickle" not in source and "eval(" not in source and "marshal" not in source


def test_a_killed_instance_is_reported_and_no_blender_is_left(tmp_path):
    with launch(None, num_instances=2, settings=SMALL, views="random", seed=2) as L:
        pids = L.pids()
        frames = []
        with pytest.raises(InstanceLost, match=r"instance 0 stopped: it was killed by signal 9"):
            for item in RemoteIterableDataset(L).frames():
                frames.append(item)
                if len(frames) == 5:
                    os.kill(L.procs[0][0].pid, signal.SIGKILL)
                assert len(frames) < 200
    assert len(frames) >= 5
    for item in frames[:5]:  # delivered before the loss: whole frames
        assert item["image"].shape == (64, 64, 4) and (item["image"][..., 3] > 0).any()
    for p in pids:
        assert not Path(f"/proc/{p}").exists()


def test_the_last_instance_killed_is_an_error_not_an_end_and_restart_brings_it_back():
    settings = {**SMALL, "train": 40}
    with launch(None, num_instances=1, settings=settings, views="rig") as L:
        got = []
        with pytest.raises(InstanceLost, match="instance 0 stopped: it was killed by signal 9"):
            for item in RemoteIterableDataset(L).frames():
                got.append(item)
                if len(got) == 1:
                    os.kill(L.procs[0][0].pid, signal.SIGKILL)
    with launch(None, num_instances=1, settings=settings, views="rig", on_lost="restart") as L:
        keys = []
        for item in RemoteIterableDataset(L).frames():
            keys.append((item["split"], item["index"]))
            if len(keys) == 3:
                os.kill(L.procs[0][0].pid, signal.SIGKILL)
        assert L.stats()["restarts"][0] == 1
    assert len(keys) == 44 and len(set(keys)) == 44, "every rig view once, the restarted instance included"


def test_continue_goes_on_without_a_lost_instance_but_a_short_stream_says_so():
    with launch(None, num_instances=2, settings={**SMALL, "train": 20}, views="rig", on_lost="continue") as L:
        got = []
        with pytest.raises(InstanceLost, match="ended short: Blender instance 1 stopped before its last frame"):
            for item in RemoteIterableDataset(L).frames():
                got.append(item)
                if len(got) == 2:
                    os.kill(L.procs[1][0].pid, signal.SIGKILL)
        assert sum(1 for it in got if it["instance"] == 0) == 12, "instance 0 rendered all of its share"


def test_a_launch_runs_once_and_a_stream_needs_it_running():
    L = launch(None, settings={"resolution": "32x32", "samples": 1, "train": 2, "val": 0, "test": 0})
    with pytest.raises(ValueError, match="not running"):
        RemoteIterableDataset(L)
    with L:
        assert len(list(RemoteIterableDataset(L).frames())) == 2
    with pytest.raises(RuntimeError, match="runs once"):
        L.start()
    with pytest.raises(ValueError, match="not running"):
        RemoteIterableDataset(L)
    with pytest.raises(ValueError, match=r"launch\(\) sets it"):
        launch(None, settings={"connect": "1.2.3.4:5"})


def test_restart_replaces_a_killed_instance_and_the_stream_goes_on():
    with launch(None, num_instances=2, settings=SMALL, views="random", on_lost="restart", seed=4) as L:
        keys, killed_after = [], None
        for item in RemoteIterableDataset(L, max_items=200).frames():
            keys.append((item["instance"], item["seq"]))
            if len(keys) == 4:
                old_pid = L.procs[1][0].pid
                os.kill(old_pid, signal.SIGKILL)
            if killed_after is None and L.stats()["restarts"][1] == 1:
                killed_after = L.stats()["received"][1]
            if killed_after is not None and (1, killed_after) in keys:
                break  # the new instance 1 delivers, numbered on from the old one's last frame
        assert L.procs[1][0].pid != old_pid and L.stats()["restarts"][1] == 1
    assert len(set(keys)) == len(keys), "no frame twice"
    assert (1, killed_after) in keys


def test_rig_views_stream_as_the_dataset_renders_them(tmp_path, cli):
    out = tmp_path / "ds"
    res = cli("--demo", "--out", out, "--format", "nerf", "--transparent", *sum(
        ([f"--{k}", str(v)] for k, v in SMALL.items()), []))  # fmt: skip
    assert res.returncode == 0, res.stderr
    with launch(None, num_instances=2, settings=SMALL, views="rig") as L:
        items = list(RemoteIterableDataset(L, convention="opengl").frames())
    assert sorted((it["split"], it["index"]) for it in items) == sorted(
        [("train", i) for i in range(6)] + [("val", i) for i in range(2)] + [("test", i) for i in range(2)]
    )
    from PIL import Image

    for it in items:
        meta = json.loads((out / f"transforms_{it['split']}.json").read_text())
        frame = meta["frames"][it["index"]]
        np.testing.assert_allclose(it["c2w"], frame["transform_matrix"], atol=1e-6)
        assert it["K"][0, 0] == pytest.approx(meta["fl_x"]) and it["K"][0, 2] == pytest.approx(meta["cx"])
        disk = np.asarray(Image.open(out / (frame["file_path"] + ".png")).convert("RGBA"))
        diff = np.abs(disk.astype(int) - np.round(it["image"] * 255).astype(int))
        assert diff.max() <= 1, "the streamed view is the dataset's view"


def test_the_trainer_steers_the_randomisation():
    with launch(None, num_instances=1, settings=SMALL, views="random", randomize=f"{SCRIPTS}:spin_and_light") as L:
        it = RemoteIterableDataset(L, max_items=12).frames()
        first = next(it)
        version = L.send({"scale": 0.5})
        later = list(it)
    assert first["params"]["scale"] == 1.0
    steered = [x for x in later if x["control"] == version]
    assert steered and all(x["params"]["scale"] == 0.5 for x in steered)


def test_launch_problems_are_one_sentence(tmp_path):
    with pytest.raises(InstanceLost, match="no object named 'Nope'"):
        with launch(None, num_instances=1, settings=SMALL, object="Nope"):
            pass
    with pytest.raises(InstanceLost, match="randomisation failed on purpose"):
        with launch(None, num_instances=1, settings=SMALL, views="random", randomize=f"{SCRIPTS}:fail_on_third") as L:
            list(RemoteIterableDataset(L).frames())
    with pytest.raises(ValueError, match="views must be one of"):
        launch(None, views="sideways")
    with pytest.raises(ValueError, match="top level"):
        launch(None, randomize=lambda ctx: {})


TRAINER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import conftest
from nerf_dataset.stream import launch, RemoteIterableDataset
with launch(None, num_instances=2, settings={"resolution": "32x32", "samples": 1}, views="random") as L:
    print(" ".join(map(str, L.pids())), flush=True)
    for item in RemoteIterableDataset(L).frames():
        time.sleep(0.05)
"""


def test_ctrl_c_in_the_trainer_leaves_no_blender():
    trainer = subprocess.Popen(
        [sys.executable, "-c", TRAINER, str(HERE.parent)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    pids = [int(p) for p in trainer.stdout.readline().split()]
    assert len(pids) == 2
    time.sleep(1.0)
    trainer.send_signal(signal.SIGINT)
    _, err = trainer.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{p}").exists() for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{p}").exists() for p in pids)
