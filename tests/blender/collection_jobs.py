"""What the collection-job tests share: the acceptance's collection (four ShapeNet-layout models, one textured
through ``../images/``, a .glb, a faceless and a corrupt model) and a batch's bytes as a user compares them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from collection_assets import l_block, write_glb, write_obj

ARGS = ["--train", "2", "--val", "1", "--test", "1", "--resolution", "32x32", "--samples", "2", "--transparent"]
FAILING = {"extra/corrupt", "extra/empty"}
RUNS_OWN = ("seconds", "source")
"""The index fields that are each run's own (how long it took, where the model was read)."""


def build_tree(root: Path) -> None:
    models = ["02691156/1a04e3eab45ca15dd86060f189eb133", "02691156/1a6ad7a24bb89733f412783097373bdc",
              "03001627/1a6f615e8b1b5ae4dbbc9440457e303e", "03001627/1a74a83fa6d24b3cacd67ce2c72c02e"]  # fmt: skip
    for k, model in enumerate(models):
        v, t = l_block(k)
        write_obj(root / model / "models" / "model_normalized.obj", v, t, texture=k == 2)
    (root / "extra").mkdir(parents=True)
    write_glb(root / "extra" / "statue.glb", *l_block(5))
    (root / "extra" / "empty.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    (root / "extra" / "corrupt.glb").write_bytes(b"glTF\x02\x00\x00\x00" + b"\xff" * 64)


def batch_of(out: Path) -> dict:
    """Every dataset file's bytes and every index row but the runs' own fields: what two runs must share."""
    files = {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".nerf_collection" not in p.parts and p.name not in ("index.json", "index.csv")
    }
    rows = [{k: v for k, v in r.items() if k not in RUNS_OWN} for r in json.loads((out / "index.json").read_text())]
    with open(out / "index.csv", newline="") as f:
        table = [{k: v for k, v in r.items() if k not in RUNS_OWN} for r in csv.DictReader(f)]
    return {"files": files, "index": rows, "csv": table}
