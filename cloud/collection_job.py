"""A collection as a job: the batch planned once at submit, its assets carried in the job, a block of assets per
shard, a record per asset.

    JOB/.nerf_dataset/job.json          kind "collection", format 3: shards, the digests of the two files below
    JOB/.nerf_collection/batch.json     the batch (``app.collection_run``): each asset [id, source, sha256, stored]
    JOB/.nerf_collection/assets.json    each bundle's files with their sizes and sha256
    JOB/.nerf_collection/assets/<bundle>/...   the models with their .mtl, textures and buffers, once per content
    JOB/<id>/, JOB/.nerf_collection/records/<id>/record.json   (a folder job: what a local collection run writes)

Submitting needs no Blender: the batch is the user's list or folder, read and planned once; each local model is
copied into the job with what it names (``core.asset_bundle``), so a worker never reads the user's paths. A URL
source stays a URL: each worker fetches it into its node's cache with the list's sha256 and the size limit. A job
is read as hostile: bounded reads, the batch's digest, every stored path inside the job's assets.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..app.collection_run import MAX_BATCH_BYTES, Batch, load_batch
from ..core.asset_bundle import Bundle, find_bundle
from ..core.collection import Asset, CollectionOptions
from ..core.errors import UserError
from ..core.files import sha256_of, write_json_atomic
from ..core.layout import ASSETS_DIR, ASSETS_FILE, BATCH_FILE, JOB_FILE
from ..core.options import OptionError
from ..core.untrusted import Unreadable, read_bounded
from .job import MAX_JOB_BYTES, PLACE_WORDS, JobShapeError, inside

COLLECTION_FORMAT = 3
"""A collection's job (format 3); a scene's stays format 2, so an older worker reads every scene job still."""
MAX_ASSET_TIMEOUT = 7 * 24 * 3600
MISSING = "0" * 64
"""The bundle of a model that could not be read at submit: nothing is stored there, so the asset fails."""


@dataclass(frozen=True)
class CollectionJobSpec:
    shards: int
    digest: str
    """sha256 of ``batch.json`` as submitted."""
    assets_digest: str
    """sha256 of ``assets.json`` as submitted."""
    assets: int
    backend: str = "local"
    options: dict = field(default_factory=dict)
    asset_timeout: int = 300
    """Seconds an asset may take (download, import, render) before its worker stops it and marks it failed."""
    kind: str = "collection"
    format: int = COLLECTION_FORMAT


def job_kind(raw: bytes) -> str:
    """ "collection" or "scene", from a job file's bytes (a damaged one is read, and refused, as a scene's)."""
    try:
        d = json.loads(raw)
    except (ValueError, RecursionError):
        return "scene"
    return "collection" if isinstance(d, dict) and d.get("kind") == "collection" else "scene"


BUNDLE = re.compile(r"[0-9a-f]{64}")
SHA = re.compile(r"[0-9a-f]{64}")


def plain_path(rel) -> bool:
    """A relative path of plain parts (no ``..``, no root, no backslash or NUL): it stays where it is put."""
    if not isinstance(rel, str) or not 0 < len(rel) <= 4096 or "\\" in rel or "\0" in rel:
        return False
    return not rel.startswith("/") and all(p not in ("", ".", "..") for p in rel.split("/"))


def check_shards(shards: int, assets: int) -> None:
    if shards > assets:
        raise OptionError("shards", f"{{}} {shards} is more than the collection's {assets} assets; give at most "
                          f"{assets}")  # fmt: skip


def bundle_root(asset: Asset, collection: CollectionOptions) -> Path:
    """The folder an asset's files are taken from: the collection's folder, or the list's when the model lies
    under it, else the model's own folder (a model's ``../images/`` is the collection's business, not the disk's)."""
    model = Path(asset.source)
    if collection.import_dir:
        return Path(collection.import_dir).expanduser().absolute()
    listed = Path(collection.import_list).expanduser().absolute().parent
    return listed if model.is_relative_to(listed) else model.parent


def find_bundles(batch: Batch, collection: CollectionOptions) -> tuple[list, dict[str, Bundle]]:
    """Each asset with where the job stores its model, and the bundles by model path: read before anything of a
    job is written or replaced, so that a refusal (every model unreadable) leaves a job folder as it was."""
    bundles: dict[str, Bundle] = {}  # by model path: a list that repeats a model reads it once
    assets = []
    for asset in batch.assets:
        if asset.remote:
            assets.append(asset)
            continue
        try:
            bundle = bundles.get(asset.source) or find_bundle(Path(asset.source), bundle_root(asset, collection))
        except UserError as exc:
            print(f"cli.py submit: warning: {asset.id}: {exc}; it fails in the job", file=sys.stderr)
            assets.append(replace(asset, stored=f"{ASSETS_DIR}/{MISSING}/{Path(asset.source).name or 'model'}"))
            continue
        bundles[asset.source] = bundle
        assets.append(replace(asset, stored=f"{ASSETS_DIR}/{bundle.id}/{bundle.model}"))
    if all(a.stored and MISSING in a.stored for a in assets):
        raise UserError(f"none of the collection's {len(assets)} assets can be read (e.g. {batch.assets[0].source}); "
                        "nothing to submit")  # fmt: skip
    return assets, bundles


def make_collection_job(folder: Path, batch: Batch, found: tuple[list, dict], shards: int, backend: str,
                        options: dict, asset_timeout: int) -> CollectionJobSpec:  # fmt: skip
    """Write the job into ``folder`` (a new job folder, or a bucket's scratch folder): the assets' bundles
    (``find_bundles``), each once, then the manifest and the batch, then ``job.json`` last (a folder is a job only
    once complete)."""
    check_shards(shards, len(batch.assets))
    folder = Path(folder)
    assets, bundles = found
    manifest: dict[str, dict] = {}
    for bundle in bundles.values():
        if bundle.id not in manifest:
            _copy(bundle, folder / ASSETS_DIR / bundle.id)
            manifest[bundle.id] = bundle.manifest()
    write_json_atomic(folder / ASSETS_FILE, manifest)
    job_batch = replace(batch, assets=tuple(assets), cache=None)  # each node fetches URLs into its own cache
    write_json_atomic(folder / BATCH_FILE, job_batch.to_json())
    spec = CollectionJobSpec(shards, sha256_of(folder / BATCH_FILE), sha256_of(folder / ASSETS_FILE),
                             len(assets), backend, options, asset_timeout)  # fmt: skip
    write_json_atomic(folder / JOB_FILE, asdict(spec))
    return spec


def _copy(bundle: Bundle, dest: Path) -> None:
    """The bundle's files as they were hashed (a file changed since is copied as read now: its check at the
    worker then fails the asset, never another's)."""
    for rel, _, _ in bundle.files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle.root / rel, target)


def read_collection_job(job_dir: Path, engines, kind: str = "folder") -> tuple[CollectionJobSpec, Batch]:
    """The job's spec and batch, checked: shape, back-end, place, the batch's digest and its assets."""
    job_dir = Path(job_dir)
    try:
        raw = read_bounded(inside(job_dir, JOB_FILE), job_dir, MAX_JOB_BYTES)
        spec = _spec(json.loads(raw), engines)
    except (Unreadable, ValueError, RecursionError, TypeError, KeyError) as exc:
        why = str(exc) if isinstance(exc, JobShapeError) else type(exc).__name__
        raise UserError(f"job {job_dir}: {JOB_FILE} is damaged ({why})") from None
    if kind not in engines[spec.backend].places:
        takers = ", ".join(name for name, e in engines.items() if kind in e.places)
        raise UserError(f"job {job_dir}: a job in {PLACE_WORDS[kind]} runs on {takers}, not {spec.backend}")
    batch_path = inside(job_dir, BATCH_FILE)
    if batch_path.stat().st_size > MAX_BATCH_BYTES or sha256_of(batch_path) != spec.digest:
        raise UserError(f"job {job_dir}: its batch does not match the digest it was submitted with; refusing it")
    batch = load_batch(job_dir, job=True)
    if len(batch.assets) != spec.assets or spec.shards > spec.assets:
        raise UserError(f"job {job_dir}: {JOB_FILE} is damaged (its batch holds {len(batch.assets)} assets)")
    if any(a.stored is None and not a.remote for a in batch.assets):
        raise UserError(f"job {job_dir}: its batch names a model outside the job; refusing it")
    return spec, batch


def read_manifest(job_dir: Path, spec: CollectionJobSpec) -> dict[str, dict[str, tuple[int, str]]]:
    """{bundle: {path: (size, sha256)}} of the job's stored assets, checked against its digest."""
    path = inside(job_dir, ASSETS_FILE)
    data = read_bounded(path, job_dir, MAX_BATCH_BYTES)
    if hashlib.sha256(data).hexdigest() != spec.assets_digest:
        raise UserError(f"job {job_dir}: {ASSETS_FILE} does not match the digest it was submitted with; refusing it")
    try:
        manifest = {}
        for bundle, entry in json.loads(data).items():
            files = {rel: (size, sha) for rel, (size, sha) in entry["files"].items()}
            if not (BUNDLE.fullmatch(bundle) and all(plain_path(rel) for rel in files)):
                raise ValueError  # a path out of the job's assets: a worker would write it anywhere
            if not all(type(s) is int and 0 <= s < 1 << 40 and SHA.fullmatch(str(h)) for s, h in files.values()):
                raise ValueError
            manifest[bundle] = files
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise UserError(f"job {job_dir}: {ASSETS_FILE} is damaged") from None
    return manifest


def _spec(d, engines) -> CollectionJobSpec:
    fields = set(CollectionJobSpec.__dataclass_fields__)
    if not isinstance(d, dict) or set(d) != fields:
        raise JobShapeError("not the fields of a collection job")
    if type(d["format"]) is int and d["format"] > COLLECTION_FORMAT:
        raise UserError(f"this job needs job format {d['format']}; this worker reads format {COLLECTION_FORMAT} and "
                        "older: install the add-on version that made the job")  # fmt: skip
    if not (isinstance(d["backend"], str) and d["backend"] in engines):
        raise JobShapeError(f"its back-end {str(d['backend'])[:40]!r} is not one this version knows")
    checks = [
        d["format"] == COLLECTION_FORMAT and d["kind"] == "collection",
        type(d["shards"]) is int and 1 <= d["shards"] <= 100_000,
        type(d["assets"]) is int and 1 <= d["assets"] <= 1_000_000,
        all(isinstance(d[k], str) and len(d[k]) == 64 for k in ("digest", "assets_digest")),
        isinstance(d["options"], dict),
        type(d["asset_timeout"]) is int and 1 <= d["asset_timeout"] <= MAX_ASSET_TIMEOUT,
    ]
    if not all(checks):
        raise JobShapeError("a field of the wrong type or range")
    return CollectionJobSpec(**d)
