"""A small collection built in code: ShapeNet-style .obj models (Y-up, one textured), a .glb, a .ply, an empty
.obj and a corrupt file. Each good model's vertices are known in its file's own coordinates."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

# An L-shaped block (asymmetric in every axis, so a wrong rotation shows): (x, y, z) sizes of its two boxes.
SYNSETS = {
    "02691156": ["1a04e3eab45ca15dd86060f189eb133", "1a6ad7a24bb89733f412783097373bdc", "1a9b552befd6306cc8f2d5fe"],
    "03001627": ["1a6f615e8b1b5ae4dbbc9440457e303e", "1a74a83fa6d24b3cacd67ce2c72c02e", "1ab8a3b55c14a7b27eaeab1f"],
}
TEXTURED = ("03001627", "1a6f615e8b1b5ae4dbbc9440457e303e")
RED = (220, 20, 20)


def l_block(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (file coordinates, Y up) and triangles of two boxes: a base and a tower on one end."""
    base = _box((0.0, 0.0, 0.0), (2.0 + 0.3 * k, 0.5, 1.0))
    tower = _box((0.0, 0.5, 0.0), (0.6, 1.4 + 0.2 * k, 0.7))
    v = np.vstack([base[0], tower[0]])
    t = np.vstack([base[1], tower[1] + 8])
    return v, t


def _box(lo, size):
    lo, size = np.array(lo), np.array(size)
    v = np.array([[lo[k] + size[k] * (i >> k & 1) for k in range(3)] for i in range(8)], dtype=float)
    tris = []
    for k in range(3):
        for side in (0, 1):
            a, b, c, d = [i for i in range(8) if (i >> k & 1) == side]
            tris += [(a, b, d), (a, d, c)] if side else [(a, d, b), (a, c, d)]
    return v, np.array(tris)


def write_obj(path: Path, v: np.ndarray, t: np.ndarray, texture: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    if texture:
        lines += ["mtllib model_normalized.mtl", "usemtl painted"]
        (path.parent / "model_normalized.mtl").write_text("newmtl painted\nKd 1 1 1\nmap_Kd ../images/texture0.png\n")
        (path.parent.parent / "images").mkdir(exist_ok=True)
        write_png(path.parent.parent / "images" / "texture0.png", RED)
        lines += [f"vt {u} {w}" for u, w in ((0, 0), (1, 0), (1, 1))]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v]
    for a, b, c in t + 1:
        lines.append(f"f {a}/1 {b}/2 {c}/3" if texture else f"f {a} {b} {c}")
    path.write_text("\n".join(lines) + "\n")


def write_png(path: Path, rgb, size: int = 8) -> None:
    raw = b"".join(b"\0" + bytes(rgb) * size for _ in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def write_ply(path: Path, v: np.ndarray, t: np.ndarray) -> None:
    head = ["ply", "format ascii 1.0", f"element vertex {len(v)}"]
    head += [f"property float {a}" for a in "xyz"]
    head += [f"element face {len(t)}", "property list uchar int vertex_indices", "end_header"]
    body = [f"{x} {y} {z}" for x, y, z in v] + [f"3 {a} {b} {c}" for a, b, c in t]
    path.write_text("\n".join(head + body) + "\n")


def write_glb(path: Path, v: np.ndarray, t: np.ndarray) -> None:
    """A minimal glTF 2.0 binary: one mesh of float positions and uint32 indices (glTF's +Y up)."""
    import json

    pos, idx = v.astype("<f4").tobytes(), t.astype("<u4").tobytes()
    gltf = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [{"byteLength": len(pos) + len(idx)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(pos)},
                        {"buffer": 0, "byteOffset": len(pos), "byteLength": len(idx)}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": len(v), "type": "VEC3",
             "min": v.min(axis=0).tolist(), "max": v.max(axis=0).tolist()},
            {"bufferView": 1, "componentType": 5125, "count": t.size, "type": "SCALAR"},
        ],
    }  # fmt: skip
    js = json.dumps(gltf).encode()
    js += b" " * (-len(js) % 4)
    binary = pos + idx
    binary += b"\0" * (-len(binary) % 4)
    chunks = struct.pack("<I4s", len(js), b"JSON") + js + struct.pack("<I4s", len(binary), b"BIN\0") + binary
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks)


def build_collection(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """The collection under ``root``; returns {id: (file vertices, triangles, file kind)} of the good models."""
    good = {}
    k = 0
    for synset, models in SYNSETS.items():
        for model in models:
            v, t = l_block(k)
            k += 1
            write_obj(root / synset / model / "models" / "model_normalized.obj", v, t, (synset, model) == TEXTURED)
            good[f"{synset}/{model}"] = (v, t, "obj")
    v, t = l_block(6)
    (root / "extra").mkdir(parents=True, exist_ok=True)
    write_glb(root / "extra" / "statue.glb", v, t)
    good["extra/statue"] = (v, t, "glb")
    v, t = l_block(7)
    write_ply(root / "extra" / "scan.ply", v, t)
    good["extra/scan"] = (v, t, "ply")
    (root / "extra" / "empty.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    (root / "extra" / "corrupt.glb").write_bytes(b"glTF\x02\x00\x00\x00" + b"\xff" * 64)
    return good
