"""Job folders made by hand (no Blender), as ``cli.py submit`` writes them, and the one-line refusal check."""

from __future__ import annotations

import json

from conftest import run_cli
from fake_scenes import facts

from nerf_dataset.app.ownership import image_namer
from nerf_dataset.cloud.engines import ENGINES
from nerf_dataset.cloud.job import JobSpec, plan_digest, scene_record, write_job
from nerf_dataset.core.layout import JOB_FILE, PLAN_FILE, SCENE_FILE
from nerf_dataset.core.plan import build_plan, save_plan
from nerf_dataset.core.settings import Settings


def made_job(folder, backend: str = "slurm", options: dict | None = None, shards: int = 2):
    """A job folder as a submission leaves it: plan, scene file, spec (the engine's options recorded)."""
    plan = build_plan(Settings(train=2, val=1, test=1), facts(), image_namer(("nerf",)))
    save_plan(plan, folder)
    (folder / SCENE_FILE).write_bytes(b"BLENDER")
    engine = ENGINES[backend]
    record = options if options is not None else engine.record(None, None) if backend != "kubernetes" else {}
    write_job(folder, JobSpec(shards, plan_digest(folder), "Cube", ("Cube",), backend, record,
                              scene=scene_record(folder)))  # fmt: skip
    return folder


def edit_plan(job, edit) -> None:
    """``edit(plan as a dict)`` saved with the job's digest updated to match, as anyone who can write one can."""
    plan = json.loads((job / PLAN_FILE).read_text())
    edit(plan)
    (job / PLAN_FILE).write_text(json.dumps(plan))
    spec = json.loads((job / JOB_FILE).read_text())
    (job / JOB_FILE).write_text(json.dumps({**spec, "digest": plan_digest(job)}))


def refused(*args) -> str:
    r = run_cli(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]
