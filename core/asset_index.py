"""What a collection run did with each asset: one record per asset, and ``index.json`` + ``index.csv`` made of them.

Each asset's record is written (atomically) the moment the asset is done or has failed, under
``OUT/.nerf_collection/records/``, so workers never write one file together and a run killed at any point
knows which assets are finished. The index files are made from the records at the end of every run.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .files import write_json_atomic
from .layout import INDEX_CSV, INDEX_JSON, RECORDS_DIR
from .untrusted import Unreadable, read_bounded

CSV_COLUMNS = ("id", "source", "status", "reason", "views", "normalize", "scale", "model_to_world", "bounds_min",
               "bounds_max", "seconds")  # fmt: skip


@dataclass(frozen=True)
class AssetRecord:
    id: str
    source: str
    status: str
    """"done" or "failed"; "started" while it renders (what a killed run leaves)."""
    reason: str = ""
    views: int = 0
    normalization: dict = field(default_factory=dict)
    """mode, up_axis, forward_axis, scale, model_to_world (row-major 4x4: the model file's coordinates to the
    dataset's world; null where the importer's own scaling is unknown, FBX)."""
    bounds_min: tuple[float, ...] = ()
    """The target's bounds in the dataset's world."""
    bounds_max: tuple[float, ...] = ()
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def record_path(out: Path, asset_id: str) -> Path:
    """``records/<id>/record.json``: a folder per id, so no id's record is another's folder (``x`` and ``x.json/y``)."""
    return Path(out) / RECORDS_DIR / asset_id / RECORD_FILE


RECORD_FILE = "record.json"


def write_record(out: Path, record: AssetRecord) -> Path:
    return write_json_atomic(record_path(out, record.id), record.to_json())


def read_record(out: Path, asset_id: str) -> AssetRecord | None:
    """The asset's record, or None when it has none (or an unreadable one: the asset is simply done again)."""
    path = record_path(out, asset_id)
    try:
        rec = record_from(json.loads(read_bounded(path, Path(out))))
    except (Unreadable, ValueError, RecursionError):
        return None
    return rec if rec is not None and rec.id == asset_id else None


def record_from(d) -> AssetRecord | None:
    """A record from JSON, every field of the type a run writes (the index's bytes come from it), or None."""
    if not isinstance(d, dict) or set(d) != set(AssetRecord.__dataclass_fields__):
        return None
    numbers = (d["bounds_min"], d["bounds_max"])
    checks = [
        all(isinstance(d[k], str) for k in ("id", "source", "status", "reason")),
        d["status"] in ("done", "failed", "started"),
        type(d["views"]) is int and 0 <= d["views"] < 1 << 31,
        isinstance(d["normalization"], dict) and _normalization(d["normalization"]),
        all(isinstance(b, list) and len(b) in (0, 3) and all(_number(x) for x in b) for b in numbers),
        _number(d["seconds"]),
    ]
    if not all(checks):
        return None
    try:
        json.dumps(d, allow_nan=False)  # every number a number (the index is strict JSON)
    except (ValueError, TypeError, RecursionError):
        return None
    return AssetRecord(**d)


def _number(x) -> bool:
    return type(x) in (int, float) and x == x and abs(x) < 1e300


def _normalization(n: dict) -> bool:
    """What the index's columns read of it: a mode, a scale and a 4x4 matrix (or none)."""
    m = n.get("model_to_world")
    matrix = m is None or (isinstance(m, list) and len(m) == 4 and all(
        isinstance(row, list) and len(row) == 4 and all(_number(x) for x in row) for row in m))  # fmt: skip
    scale = n.get("scale")
    return matrix and isinstance(n.get("mode", ""), str) and (scale is None or scale == "" or _number(scale))


def write_index(out: Path, records) -> int:
    """``index.json`` (a list of records) and ``index.csv`` (one row per asset, the matrix as 16 numbers), from
    any iterable of records; returns how many."""
    with IndexWriter(out) as index:
        for r in records:
            index.add(r)
    return index.count


class IndexWriter:
    """The index files written one record at a time (a batch of 100 000 assets is never in memory at once),
    each put in place by one rename when the block ends without an error; the bytes are ``json.dumps(list,
    indent=2)``'s and one csv row per record."""

    def __init__(self, out: Path):
        self.paths = [Path(out) / INDEX_JSON, Path(out) / INDEX_CSV]
        self.count = 0

    def __enter__(self) -> IndexWriter:
        self.temps = [p.with_name(f".{p.name}.{os.getpid()}.tmp") for p in self.paths]
        self.json, self.csv = (open(t, "w", encoding="utf-8", newline="") for t in self.temps)  # noqa: SIM115
        self.rows = csv.writer(self.csv, lineterminator="\n")
        self.rows.writerow(CSV_COLUMNS)
        self.json.write("[")
        return self

    def add(self, r: AssetRecord) -> None:
        item = json.dumps(r.to_json(), indent=2, allow_nan=False).replace("\n", "\n  ")
        self.json.write(("," if self.count else "") + "\n  " + item)
        n = r.normalization
        m = n.get("model_to_world")
        self.rows.writerow([
            r.id, r.source, r.status, r.reason, r.views, n.get("mode", ""), n.get("scale", ""),
            " ".join(f"{x:.12g}" for row in m for x in row) if m else "",
            " ".join(f"{x:.9g}" for x in r.bounds_min), " ".join(f"{x:.9g}" for x in r.bounds_max),
            f"{r.seconds:.3f}",
        ])  # fmt: skip
        self.count += 1

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if exc is None:
                self.json.write("\n]\n" if self.count else "]\n")
            self.json.close()
            self.csv.close()
            if exc is None:
                for temp, path in zip(self.temps, self.paths):
                    os.replace(temp, path)
        finally:
            for temp in self.temps:
                temp.unlink(missing_ok=True)
