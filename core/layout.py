"""Where this tool keeps its own files, stated once: the hidden bookkeeping folder of a dataset (which is also a
job's folder) and of a collection. Every module that reads or writes one of these names takes it from here.

A dataset's ``.nerf_dataset/`` holds the plan and everything a run, a job or a worker keeps beside it; no
consumer looks into a hidden folder, so none takes our JSON for frames. A collection's ``.nerf_collection/``
holds the batch's settings and one record per asset. An engine keeps its own files (a Slurm script, the
submissions it made) under ``BACKEND_DIR``, named by the engine's module.
"""

from __future__ import annotations

PLAN_DIR = ".nerf_dataset"
PLAN_FILE = f"{PLAN_DIR}/plan.json"
"""Every view's split, frame, pose and image, the intrinsics and the settings: what every run reads."""
LOCK_FILE = f"{PLAN_DIR}/lock"
"""The folder's advisory lock (``app.lock``)."""
FINALISE_LOCK = f"{PLAN_DIR}/finalise.lock"
STAGING_DIR = f"{PLAN_DIR}/staging"
"""Where Blender writes a frame before it is renamed to its dataset name."""
SHARD_DIR = f"{PLAN_DIR}/shards"
"""Each shard's done-list: the frames it finished, one per line."""
POINTS_FILE = f"{PLAN_DIR}/points.npz"
"""The surface points with their colours (``core.points``)."""
TRACKS_FILE = f"{PLAN_DIR}/tracks.npz"
"""The surface points and where each view sees them, before the images give their colours."""
WRITE_PROBE = f"{PLAN_DIR}.probe"

# A job: the dataset folder plus what a worker needs to render its shard anywhere.
JOB_FILE = f"{PLAN_DIR}/job.json"
SCENE_FILE = f"{PLAN_DIR}/scene.blend"
LOG_DIR = f"{PLAN_DIR}/logs"
BACKEND_DIR = f"{PLAN_DIR}/backend"
"""An engine's own files (``cloud/engines/<engine>.py`` names them)."""
SUBMIT_LOCK = f"{BACKEND_DIR}/submit.lock"
"""One submission to an engine at a time (a retry, a cancel), beside the workers that render the job."""
PROOF_DIR = f"{PLAN_DIR}/views"
"""A job in a bucket: one upload proof per finished view (``cloud.proofs``)."""

# A collection: one dataset per asset in OUT/<id>/, and the batch's own files.
COLLECTION_DIR = ".nerf_collection"
COLLECTION_LOCK = f"{COLLECTION_DIR}/lock"
"""One run per collection folder; the workers of ``--workers N`` run under their parent's."""
BATCH_FILE = f"{COLLECTION_DIR}/batch.json"
BATCH_LOCK = f"{COLLECTION_DIR}/batch.lock"
"""Blocks of one batch started by hand agree on its batch file one at a time."""
"""What every asset is made with, the assets and the run's options: a collection worker's whole input."""
RECORDS_DIR = f"{COLLECTION_DIR}/records"
"""One record per asset (``core.asset_index``)."""
DOWNLOAD_CACHE = f"{COLLECTION_DIR}/cache"
ASSETS_DIR = f"{COLLECTION_DIR}/assets"
"""A collection job: each asset's files, ``<bundle digest>/<path>``, stored once per content
(``core.asset_bundle``)."""
ASSETS_FILE = f"{COLLECTION_DIR}/assets.json"
"""A collection job: every bundle's files with their sizes and sha256."""
NODE_CACHE = "nerf_dataset-downloads"
"""A collection job's download cache on each node, in its temporary folder: URL sources are fetched there."""
PANEL_LOG = f"{COLLECTION_DIR}/panel.log"
INDEX_JSON, INDEX_CSV = "index.json", "index.csv"


def shard_log(index: int) -> str:
    """A shard's log, on every engine."""
    return f"{LOG_DIR}/shard-{index}.log"


def done_list(index: int, count: int) -> str:
    return f"{SHARD_DIR}/{index}-of-{count}.done"


def collection_worker_log(index: int) -> str:
    return f"{COLLECTION_DIR}/worker-{index}.log"
