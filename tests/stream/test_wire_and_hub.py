"""The transport and the hub without Blender: fake instances are threads speaking the real protocol."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import numpy as np
import pytest

from nerf_dataset.core.errors import UserError
from nerf_dataset.stream import wire
from nerf_dataset.stream.hub import Hub
from nerf_dataset.stream.record import Recorder, ReplayDataset


def _frame_header(seq: int, instance: int = 0) -> dict:
    return {
        "type": "frame", "seq": seq, "split": "random", "index": seq, "width": 4, "height": 3,
        "c2w": np.eye(4).ravel().tolist(), "K": [2.0, 0, 2, 0, 2.0, 1.5, 0, 0, 1], "params": {"k": seq}, "control": 0,
        "annotations": {"bbox": [0, 0, 4, 3], "in_view": True, "box_corners": [0.0] * 16, "keypoint_names": [],
                        "keypoints": [], "keypoints_visible": [], "object_to_camera": np.eye(4).ravel().tolist()},
    }  # fmt: skip


def _image(seq: int) -> np.ndarray:
    return np.full((3, 4, 4), seq % 256, dtype=np.uint8)


def test_messages_round_trip_and_bad_ones_are_refused_before_allocation():
    a, b = socket.socketpair()
    arrays = {"image": _image(7), "depth": np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)}
    wire.send(a, {"type": "frame", "x": 1}, arrays)
    header, got = wire.recv(b)
    assert header["x"] == 1 and all(np.array_equal(got[k], v) for k, v in arrays.items())
    bad = [
        struct.pack("<4sIQ", b"XXXX", 2, 0) + b"{}",  # not our magic
        struct.pack("<4sIQ", wire.MAGIC, 2, 1 << 40) + b"{}",  # a terabyte promised
        struct.pack("<4sIQ", wire.MAGIC, wire.MAX_HEADER + 1, 0),  # a header over the limit
        wire.encode_raw({"type": "f", "arrays": [{"name": "a", "dtype": "object", "shape": [1]}]}, b"x" * 8),
        wire.encode_raw({"type": "f", "arrays": [{"name": "a", "dtype": "uint8", "shape": [2, -1]}]}, b""),
        wire.encode_raw({"type": "f", "arrays": [{"name": "a", "dtype": "uint8", "shape": [1 << 40, 1 << 40]}]}, b""),
        wire.encode_raw({"type": "f", "arrays": [{"name": "a", "dtype": "uint8", "shape": [3]}]}, b"xy"),
        struct.pack("<4sIQ", wire.MAGIC, 13, 0) + b'{"type": NaN}',
        struct.pack("<4sIQ", wire.MAGIC, 4, 0) + b"[1] ",
    ]
    for message in bad:
        a.sendall(message)
        with pytest.raises(wire.WireError):
            wire.recv(b)
        a.close(), b.close()
        a, b = socket.socketpair()
    with pytest.raises(ValueError, match="dtype"):
        wire.encode({"type": "f"}, {"a": np.array([object()])})


class FakeInstance(threading.Thread):
    """Speaks the instance side of the protocol: renders (makes) a frame whenever it holds credit."""

    def __init__(self, hub: Hub, secret: bytes, i: int, frames: int):
        super().__init__(daemon=True)
        self.hub, self.secret, self.i, self.frames = hub, secret, i, frames
        self.sent = 0

    def run(self) -> None:
        s = wire.connect(self.hub.address, self.secret)
        wire.send(s, {"type": "hello", "role": "instance", "instance": self.i, "generation": 0})
        credits = 0
        try:
            while self.sent < self.frames:
                while credits <= 0:
                    header, _ = wire.recv(s)
                    if header["type"] == "credit":
                        credits += header["n"]
                    if header["type"] == "stop":
                        return
                wire.send(s, _frame_header(self.sent, self.i), {"image": _image(self.sent)})
                self.sent += 1
                credits -= 1
            wire.send(s, {"type": "end"})
        except (wire.WireError, OSError):
            pass
        finally:
            s.close()


def _consume(hub: Hub, secret: bytes, stream: str, out: list, delay: float = 0.0) -> None:
    s = wire.connect(hub.address, secret)
    wire.send(s, {"type": "hello", "role": "consumer", "stream": stream})
    while True:
        wire.send(s, {"type": "next"})
        header, arrays = wire.recv(s)
        if header["type"] != "frame":
            break
        out.append((header["instance"], header["seq"]))
        time.sleep(delay)
    s.close()


def test_every_frame_goes_to_exactly_one_of_many_consumers_and_credit_bounds_the_producers():
    secret = wire.new_secret()
    hub = Hub(secret, num_instances=3, queue_size=2)
    try:
        hub.open_stream("s", max_items=None)
        fakes = [FakeInstance(hub, secret, i, 40) for i in range(3)]
        for f in fakes:
            f.start()
        hub.wait_ready(10, lambda: None)
        time.sleep(0.3)
        assert sum(hub.stats()["received"].values()) == 3 * 2, "each instance stops at its credit"
        got: list = []
        consumers = [threading.Thread(target=_consume, args=(hub, secret, "s", got, 0.001)) for _ in range(4)]
        for c in consumers:
            c.start()
        for c in consumers:
            c.join(30)
        assert len(got) == 120 and len(set(got)) == 120
    finally:
        hub.close()


def test_max_items_ends_every_consumer_and_peers_without_the_secret_count_as_refused():
    secret = wire.new_secret()
    hub = Hub(secret, num_instances=1, queue_size=4)
    try:
        hub.open_stream("s", max_items=10)
        FakeInstance(hub, secret, 0, 1000).start()
        with pytest.raises((wire.Refused, wire.WireError, OSError)):
            wire.connect(hub.address, wire.new_secret())
        got: list = []
        consumers = [threading.Thread(target=_consume, args=(hub, secret, "s", got)) for _ in range(3)]
        for c in consumers:
            c.start()
        for c in consumers:
            c.join(30)
        assert len(got) == 10 and len(set(got)) == 10
        assert hub.stats()["refused"] == 1
    finally:
        hub.close()


def test_a_frame_without_credit_drops_the_instance():
    secret = wire.new_secret()
    hub = Hub(secret, num_instances=1, queue_size=1)
    try:
        s = wire.connect(hub.address, secret)
        wire.send(s, {"type": "hello", "role": "instance", "instance": 0, "generation": 0})
        for seq in range(3):  # one credit, three frames
            try:
                wire.send(s, _frame_header(seq), {"image": _image(seq)})
            except OSError:
                break
        deadline = time.monotonic() + 5
        while hub.stats()["states"][0] != "dead" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.stats()["states"][0] == "dead"
        assert "without credit" in hub.instances[0].reason and "without credit" in hub.failure
        s.close()
    finally:
        hub.close()


def test_a_recording_replays_and_hostile_recordings_are_refused_in_one_sentence(tmp_path):
    rec = Recorder(tmp_path / "rec", {"seed": 1})
    for seq in range(3):
        header = {
            **_frame_header(seq),
            "instance": 0,
            "arrays": [{"name": "image", "dtype": "uint8", "shape": [3, 4, 4]}],
        }
        rec.write(header, _image(seq).tobytes())
    rec.close()
    with pytest.raises(UserError, match="not empty"):
        Recorder(tmp_path / "rec", {})
    index = tmp_path / "rec" / "index.jsonl"
    with open(index, "ab") as f:
        f.write(b'{"image": "frames/i0_0000')  # cut off mid-line: not a frame yet
    frames = ReplayDataset(tmp_path / "rec")
    assert len(frames) == 3
    item = frames.frame(2)
    assert item["params"] == {"k": 2} and np.array_equal(item["image"], _image(2) / np.float32(255))
    lines = index.read_bytes().splitlines()
    good = json.loads(lines[0])
    hostile = {
        "outside": {**good, "image": "../../etc/passwd"},
        "absolute": {**good, "image": "/etc/passwd"},
        "nan": b'{"image": "frames/i0_00000000.png", "width": NaN}',
        "not json": b"\xff\xfe",
        "wrong size": {**good, "width": 8},
        "bad pose": {**good, "c2w": [1, 2, 3]},
    }
    for what, line in hostile.items():
        raw = line if isinstance(line, bytes) else json.dumps(line).encode()
        index.write_bytes(raw + b"\n")
        with pytest.raises(UserError) as caught:
            ReplayDataset(tmp_path / "rec").frame(0)
        assert "\n" not in str(caught.value), what


def test_a_consumer_that_dies_with_a_frame_on_the_wire_puts_it_back():
    secret = wire.new_secret()
    hub = Hub(secret, num_instances=1, queue_size=2)
    try:
        hub.open_stream("s", max_items=None)
        FakeInstance(hub, secret, 0, 6).start()
        s = wire.connect(hub.address, secret)
        wire.send(s, {"type": "hello", "role": "consumer", "stream": "s"})
        wire.send(s, {"type": "next"})
        time.sleep(0.3)  # the frame is sent; the consumer dies before reading it
        s.close()
        got: list = []
        _consume(hub, secret, "s", got)
        assert sorted(got) == [(0, k) for k in range(6)], "the frame in flight went to the next consumer"
    finally:
        hub.close()


def test_a_flood_of_strangers_does_not_lock_out_the_real_peers_and_a_closed_hub_is_gone():
    secret = wire.new_secret()
    hub = Hub(secret, num_instances=1, queue_size=2)
    strangers = [socket.create_connection(hub.address) for _ in range(200)]  # say nothing, hold the slots
    try:
        hub.open_stream("s", max_items=3)
        FakeInstance(hub, secret, 0, 3).start()
        got: list = []
        _consume(hub, secret, "s", got)
        assert len(got) == 3
        with pytest.raises(ValueError, match="over the limit"):
            hub.send_params({"blob": "x" * (wire.MAX_PARAMS + 1)})
    finally:
        for s in strangers:
            s.close()
        hub.close()
    with pytest.raises(OSError):
        wire.connect(hub.address, secret, timeout=2).close()
    with pytest.raises(ValueError, match="closed"):
        hub.open_stream("t", None)


def _png_header_only(path, w: int, h: int) -> None:
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


def test_hostile_recording_files_are_one_sentence_each(tmp_path):
    import os

    rec = Recorder(tmp_path / "rec", {})
    header = {**_frame_header(0), "instance": 0, "arrays": [{"name": "image", "dtype": "uint8", "shape": [3, 4, 4]}]}
    rec.write(header, _image(0).tobytes())
    rec.close()
    root, index = tmp_path / "rec", tmp_path / "rec" / "index.jsonl"
    good = index.read_bytes()
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(good)
    cases = {}
    index.unlink()
    cases["missing index"] = lambda: ReplayDataset(root)
    os.mkfifo(index)
    cases["a fifo"] = lambda: ReplayDataset(root)
    for what, check in cases.items():
        with pytest.raises(UserError):
            check()
        assert what
    index.unlink()
    index.symlink_to(outside)
    with pytest.raises(UserError, match="outside"):
        ReplayDataset(root)
    index.unlink()
    index.write_bytes(b'{"a":' * 100_000 + b"\n")
    with pytest.raises(UserError, match="not JSON"):
        ReplayDataset(root)
    big = json.loads(good)
    big.update(width=10_000, height=10_000)
    index.write_bytes(json.dumps(big).encode() + b"\n")
    _png_header_only(root / big["image"], 10_000, 10_000)
    with pytest.raises(UserError, match="more pixels"):
        ReplayDataset(root).frame(0)
    big.update(width="8")
    index.write_bytes(json.dumps(big).encode() + b"\n")
    with pytest.raises(UserError, match="line 1 is not a valid frame: the frame.s width"):
        ReplayDataset(root).frame(0)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="cannot record"):
        Recorder(tmp_path / "afile" / "sub", {})


def test_a_replaced_instance_s_old_connection_is_not_heard():
    secret = wire.new_secret()
    hub = Hub(secret, num_instances=1, queue_size=2)
    try:
        hub.open_stream("s", max_items=None)
        old = wire.connect(hub.address, secret)
        wire.send(old, {"type": "hello", "role": "instance", "instance": 0, "generation": 0})
        hub.wait_ready(5, lambda: None)
        hub.expect_again(0)  # the launch restarts it; the old process's last frame must not count
        wire.send(old, _frame_header(0), {"image": _image(0)})
        time.sleep(0.3)
        assert hub.stats()["received"][0] == 0 and hub.stats()["queued"] == 0
        old.close()
    finally:
        hub.close()


def test_a_recording_that_cannot_be_written_stops_the_stream_in_one_sentence(tmp_path):
    secret = wire.new_secret()
    hub = Hub(secret, num_instances=1, queue_size=2)
    try:
        recorder = Recorder(tmp_path / "rec", {})
        (tmp_path / "rec" / "frames").rmdir()
        (tmp_path / "rec" / "frames").write_text("in the way")  # the disk says no to every frame
        hub.open_stream("s", max_items=None, recorder=recorder)
        FakeInstance(hub, secret, 0, 5).start()
        s = wire.connect(hub.address, secret)
        wire.send(s, {"type": "hello", "role": "consumer", "stream": "s"})
        replies = []
        for _ in range(2):
            wire.send(s, {"type": "next"})
            replies.append(wire.recv(s)[0])
        s.close()
        assert replies[0]["type"] == "frame"
        assert replies[1]["type"] == "error" and "recording into" in replies[1]["message"]
        assert "\n" not in replies[1]["message"]
    finally:
        hub.close()
