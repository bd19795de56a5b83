"""``cli.py submit | worker | status | collect``: the job contract on the command line.

cli.py submit --backend local|slurm --job DIR --shards N [scene and dataset options]
cli.py submit --retry-missing --job DIR
cli.py worker --job DIR [--shard I/N]
cli.py status --job DIR
cli.py collect --job DIR [--out OUT]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..app.cli_parts import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    Parser,
    Progress,
    add_settings,
    one_line,
    require_blender,
    settings_from_args,
)
from ..app.dataset import IncompleteError, Source
from ..core.errors import UserError
from ..core.settings import SettingError, flag_of
from ..core.shards import parse_shard
from .job import BACKENDS


def _submit_parser() -> argparse.ArgumentParser:
    from ..exporters import FORMATS

    p = Parser(prog="cli.py submit", description="Plan once and hand the shards to a batch engine.")
    p.add_argument("--job", metavar="DIR", required=True, help="the job folder (on storage every node reads)")
    p.add_argument("--backend", choices=BACKENDS, default="local", help="where the shards run (default local)")
    p.add_argument("--shards", type=int, default=1, metavar="N", help="tasks of the array (default 1)")
    p.add_argument("--retry-missing", action="store_true", help="resubmit only the shards with missing views")
    p.add_argument("--emit", action="store_true", help="write the engine's script into the job, do not submit")
    p.add_argument("--overwrite", action="store_true", help="replace a job already in --job")
    p.add_argument("--retries", type=int, default=2, metavar="N", help="local: restarts of a failed worker")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--blend", metavar="PATH", help=".blend to open")
    src.add_argument("--import", dest="import_path", metavar="PATH", help="model to import")
    src.add_argument("--demo", action="store_true", help="the built-in demo scene")
    p.add_argument("--object", metavar="NAME", help="object to orbit")
    slurm = p.add_argument_group("slurm")
    slurm.add_argument("--partition", metavar="NAME")
    slurm.add_argument("--time", metavar="LIMIT", help="time limit per task, as sbatch takes it (2:00:00)")
    slurm.add_argument("--cpus-per-task", type=int, metavar="N")
    slurm.add_argument("--mem", metavar="SIZE", help="memory per task, as sbatch takes it (4G)")
    slurm.add_argument("--max-running", type=int, metavar="M", help="at most M tasks at once (--array=...%%M)")
    slurm.add_argument("--sbatch-arg", action="append", default=[], metavar="ARG", help="an extra sbatch argument")
    slurm.add_argument("--worker-command", metavar="CMD", help="what runs cli.py on the nodes")
    p.add_argument("--verbose", action="store_true", help="show Blender's own output")
    add_settings(p, FORMATS)
    return p


def _slurm_options(a, saved: dict | None = None):
    """The Slurm options typed now; on --retry-missing, the job's own unless any is typed."""
    import shlex

    from .slurm import SlurmOptions

    typed = [a.partition, a.time, a.cpus_per_task, a.mem, a.max_running, a.worker_command, *a.sbatch_arg]
    if saved is not None and not any(v is not None and v != [] for v in typed):
        return SlurmOptions.from_dict(saved)
    try:
        command = tuple(shlex.split(a.worker_command)) if a.worker_command else ()
    except ValueError:
        raise UserError(f"--worker-command {a.worker_command!r} is not a command line") from None
    return SlurmOptions(a.partition, a.time, a.cpus_per_task, a.mem, a.max_running, tuple(a.sbatch_arg), command)


def submit(args: list[str]) -> int:
    from dataclasses import asdict

    a = _submit_parser().parse_args(args)
    job_dir = Path(a.job).expanduser().absolute()
    if a.retry_missing:
        return _retry_missing(job_dir, a)
    if not 1 <= a.shards <= 100_000:
        raise UserError("--shards must be 1 to 100000")
    if not 0 <= a.retries <= 100:
        raise UserError("--retries must be 0 to 100")
    settings = settings_from_args(a)
    opts = _slurm_options(a) if a.backend == "slurm" else None
    require_blender()
    if not (a.blend or a.import_path or a.demo):
        raise UserError("give the scene: --blend PATH, --import PATH or --demo")
    from .submit import make_job

    source = Source(blend=a.blend, import_path=a.import_path, demo=a.demo, object=a.object)
    planned = make_job(settings, source, job_dir, a.shards, a.backend, asdict(opts) if opts else {},
                       a.overwrite, not a.verbose)  # fmt: skip
    try:
        return _launch(job_dir, planned.plan, list(range(a.shards)), a.shards, a.backend, opts, a)
    finally:
        planned.release()


def _launch(job_dir: Path, plan, shards: list[int], count: int, backend: str, opts, a) -> int:
    if backend == "slurm":
        from .slurm import submit as sbatch

        job_id = sbatch(job_dir, shards, opts, emit_only=a.emit)
        print(f"wrote {job_dir / '.nerf_dataset/backend/slurm-array.sh'}" if a.emit else f"submitted {job_id}")
        return EXIT_OK
    from .local import run_workers

    run_workers(plan, job_dir, count, a.retries, Progress(), shards)
    print(f"rendered the shards of {job_dir}; cli.py collect --job {job_dir} finalises it")
    return EXIT_OK


def _retry_missing(job_dir: Path, a) -> int:
    from dataclasses import asdict

    from .job import read_job, write_job
    from .status import job_status

    spec, shards = job_status(job_dir)
    busy = [s.index for s in shards if s.state in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED")]
    todo = [s.index for s in shards if s.missing and s.index not in busy]
    if not todo:
        print(f"no shard to resubmit in {job_dir} ({len(busy)} still pending or running)")
        return EXIT_OK
    opts = _slurm_options(a, spec.options) if spec.backend == "slurm" else None
    if opts is not None and asdict(opts) != spec.options:  # what the next --retry-missing will use
        write_job(job_dir, type(spec)(**{**spec.__dict__, "options": asdict(opts)}))
    _, plan = read_job(job_dir)
    return _launch(job_dir, plan, todo, spec.shards, spec.backend, opts, a)


def worker(args: list[str]) -> int:
    p = Parser(prog="cli.py worker", description="Render one shard of a job (a batch engine's task).")
    p.add_argument("--job", metavar="DIR", required=True)
    p.add_argument("--shard", metavar="I/N", help="default: the engine's task index (SLURM_ARRAY_TASK_ID, ...)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="render threads (0: all cores)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--under-parent", action="store_true", help=argparse.SUPPRESS)  # its parent holds the lock
    a = p.parse_args(args)
    if not 0 <= a.threads <= 1024:
        raise UserError("--threads must be 0 to 1024")
    require_blender()
    from .worker import run_worker

    shard = parse_shard(a.shard) if a.shard is not None else None
    job, shard = run_worker(Path(a.job).absolute(), shard, a.threads, not a.verbose, Progress(), a.under_parent)
    print(f"rendered shard {shard[0]}/{shard[1]} of {a.job}: {job.render.done} views")
    return EXIT_OK


def status(args: list[str]) -> int:
    p = Parser(prog="cli.py status", description="Views done per shard, and each task as the engine sees it.")
    p.add_argument("--job", metavar="DIR", required=True)
    a = p.parse_args(args)
    from .status import job_status

    spec, shards = job_status(Path(a.job).absolute())
    for s in shards:
        print(s.line(spec.shards))
    done, total = sum(s.done for s in shards), sum(s.total for s in shards)
    print(f"status: {done}/{total} views done in {spec.shards} shards ({spec.backend})")
    return EXIT_OK if done == total else EXIT_FAILED


def collect(args: list[str]) -> int:
    p = Parser(prog="cli.py collect", description="Check every view of a job and write the dataset. No Blender.")
    p.add_argument("--job", metavar="DIR", required=True)
    p.add_argument("--out", metavar="DIR", help="where the dataset goes (default: the job folder itself)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset of ours already in --out")
    a = p.parse_args(args)
    from ..app.validate import validate
    from .collector import collect_job

    job, out = Path(a.job).expanduser().absolute(), Path(a.out or a.job).expanduser().absolute()
    if out != job and (job.resolve() in out.resolve().parents or out.resolve() in job.resolve().parents):
        raise UserError(f"--out {out} and --job {job} must be the same folder, or neither inside the other")
    written = collect_job(job, out, a.overwrite)
    print(f"wrote {len(written)} dataset files to {out}")
    report = validate(out)
    print(f"validate: {report.summary()}")
    return EXIT_FAILED if report.problems else EXIT_OK


COMMANDS = {"submit": submit, "worker": worker, "status": status, "collect": collect}


def run_command(name: str, args: list[str]) -> int:
    try:
        return COMMANDS[name](args)
    except SettingError as exc:  # a job's folder is its --job (the settings keep their flags)
        words = exc.worded(lambda n: "--job" if n == "out" and name != "collect" else flag_of(n))
        print(f"cli.py {name}: error: {one_line(words)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UserError as exc:
        print(f"cli.py {name}: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (IncompleteError, OSError) as exc:
        print(f"cli.py {name}: failed: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
