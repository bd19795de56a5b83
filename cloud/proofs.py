"""Upload proofs of a job in a bucket: which views are done, and what was uploaded for each.

A proof is one object per view (S3 has no append), ``.nerf_dataset/views/<plan digest>/<frame>.json``, written
after the view's files with each file's size and sha256. Keyed by the plan's digest, a proof of another plan (a
replaced job's workers still running) is never counted; its sizes and hashes let a worker and ``collect`` tell a
complete object from a cut or replaced one. Proofs are read as hostile input.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..app.dataset import pass_files
from ..core.errors import UserError
from ..core.files import sha256_of
from ..core.layout import PROOF_DIR
from .s3 import CONCURRENCY

MAX_PROOF_BYTES = 64 << 10


def proof_dir(digest: str) -> str:
    return f"{PROOF_DIR}/{digest[:16]}"


def proof_rel(digest: str, frame: int) -> str:
    return f"{proof_dir(digest)}/{frame}.json"


def view_files(plan, view) -> list[str]:
    """The files of one view, passes before the image (a complete image means complete passes)."""
    return [*map(str, pass_files(plan, view).values()), str(view.image)]


def listed_done(listing: dict[str, int], digest: str, plan) -> set[int]:
    """Frames with a proof of this plan whose files are all in ``listing`` (one listing of the prefix)."""
    done = set()
    for view in plan.views:
        if proof_rel(digest, view.frame) in listing and all(listing.get(f, 0) > 0 for f in view_files(plan, view)):
            done.add(view.frame)
    return done


def read_proof(store, digest: str, plan, view) -> dict[str, dict] | None:
    """The proof's {file: {size, sha256}} when it is well formed and names exactly the view's files."""
    try:
        raw = store.read(proof_rel(digest, view.frame), MAX_PROOF_BYTES)
        d = json.loads(raw) if raw is not None else None
    except (ValueError, RecursionError, UnicodeDecodeError, UserError):  # larger than ours: damaged too
        return None
    if not isinstance(d, dict) or d.get("frame") != view.frame or d.get("digest") != digest:
        return None
    files = d.get("files")
    if not isinstance(files, dict) or sorted(files) != sorted(view_files(plan, view)):
        return None
    largest = max_file_bytes(plan)
    for entry in files.values():
        if not (isinstance(entry, dict) and type(entry.get("size")) is int and isinstance(entry.get("sha256"), str)):
            return None
        if not 0 < entry["size"] <= largest:
            return None
    return files


def max_file_bytes(plan) -> int:
    """More than any image or pass of this plan's size can take: four float32 channels uncompressed, twice over,
    plus headers. A proof that says more is damaged; a download never goes beyond its proof's size."""
    return 32 * plan.intrinsics.w * plan.intrinsics.h + (1 << 20)


def verified_done(store, listing: dict[str, int], digest: str, plan, views) -> set[int]:
    """Of ``views``, those whose proof is well formed and whose objects have the proven sizes (a worker's
    check before it leaves a view out; ``collect`` checks the bytes too)."""
    listed = listed_done(listing, digest, plan)
    candidates = [v for v in views if v.frame in listed]

    def ok(view) -> bool:
        files = read_proof(store, digest, plan, view)
        return files is not None and all(listing.get(f) == e["size"] for f, e in files.items())

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return {v.frame for v, good in zip(candidates, pool.map(ok, candidates)) if good}


class ViewUploader:
    """Uploads each finished view in the background while the next renders, its proof last; ``check()``
    raises the first failure (the worker stops rendering at its next chunk)."""

    def __init__(self, store, plan, digest: str, root: Path):
        self.store, self.plan, self.digest, self.root = store, plan, digest, root
        self.pool = ThreadPoolExecutor(max(1, CONCURRENCY // 2), thread_name_prefix="upload")
        self.futures = []
        self.files = 0
        self.views = 0
        self._lock = threading.Lock()

    def add(self, view) -> None:
        self.futures.append(self.pool.submit(self._upload, view))

    def _upload(self, view) -> None:
        files = {}
        for rel in view_files(self.plan, view):
            path = self.root / rel
            files[rel] = {"size": path.stat().st_size, "sha256": sha256_of(path)}
            self.store.upload(path, rel)
        proof = {"frame": view.frame, "digest": self.digest, "files": files}
        self.store.put(proof_rel(self.digest, view.frame), json.dumps(proof, sort_keys=True).encode())
        with self._lock:
            self.files += len(files)
            self.views += 1

    def check(self) -> None:
        for f in self.futures:
            if f.done() and f.exception() is not None:
                raise f.exception()

    def finish(self) -> None:
        try:
            for f in self.futures:
                f.result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
