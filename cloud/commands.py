"""``cli.py submit | worker | status | collect | cancel``: the job contract on the command line.

cli.py submit --backend local|slurm|aws-batch|kubernetes|gcp-batch --job DIR|s3://BUCKET/PREFIX --shards N [...]
cli.py submit --retry-missing --job DIR|s3://...
cli.py worker --job DIR|s3://... [--shard I/N]
cli.py status --job DIR|s3://...
cli.py collect --job DIR|s3://... [--out OUT]
cli.py cancel --job DIR|s3://...
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ..app.cli_parts import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    Parser,
    Progress,
    add_settings,
    require_blender,
    settings_from_args,
)
from ..app.dataset import IncompleteError, Source
from ..core.errors import UserError
from ..core.settings import SettingError, flag_of
from ..core.shards import parse_shard
from ..core.text import one_line
from .job import BACKENDS
from .location import S3Url, parse_location
from .options import (
    add_backend_options,
    add_s3_options,
    backend_options,
    check_applicable,
    s3_options,
    slurm_options,
    typed_batch_options,
)


def _submit_parser() -> argparse.ArgumentParser:
    from ..exporters import FORMATS

    p = Parser(prog="cli.py submit", description="Plan once and hand the shards to a batch engine.")
    p.add_argument("--job", metavar="DIR|s3://BUCKET/PREFIX", required=True,
                   help="the job: a folder every node reads, or a prefix in S3")  # fmt: skip
    p.add_argument("--backend", choices=BACKENDS, default="local", help="where the shards run (default local)")
    p.add_argument("--shards", type=int, default=1, metavar="N", help="tasks of the array (default 1)")
    p.add_argument("--retry-missing", action="store_true", help="resubmit only the shards with missing views")
    p.add_argument("--emit", nargs="?", const="", metavar="DIR",
                   help="write the engine's script or manifest (into DIR), do not submit")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace a job already in --job")
    p.add_argument("--retries", type=int, default=2, metavar="N", help="local: restarts of a failed worker")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--blend", metavar="PATH", help=".blend to open")
    src.add_argument("--import", dest="import_path", metavar="PATH", help="model to import")
    src.add_argument("--demo", action="store_true", help="the built-in demo scene")
    p.add_argument("--object", metavar="NAME", help="object to orbit")
    add_s3_options(p)
    add_backend_options(p)
    p.add_argument("--verbose", action="store_true", help="show Blender's own output")
    add_settings(p, FORMATS)
    return p


def submit(args: list[str]) -> int:
    a = _submit_parser().parse_args(args)
    location, s3 = parse_location(a.job), s3_options(a)
    if a.retry_missing:
        return _retry_missing(location, a, s3)
    if not 1 <= a.shards <= 100_000:
        raise UserError("--shards must be 1 to 100000")
    if not 0 <= a.retries <= 100:
        raise UserError("--retries must be 0 to 100")
    remote = isinstance(location, S3Url)
    if remote and a.backend in ("local", "slurm"):
        raise UserError(f"--backend {a.backend} runs the job in a folder; give --job DIR, or --backend aws-batch")
    if not remote and a.backend == "aws-batch":
        raise UserError("--backend aws-batch takes the job from S3: give --job s3://BUCKET/PREFIX")
    settings = settings_from_args(a)
    check_applicable(a, a.backend)  # the panel shows each back-end's own settings only: no such mix-up there
    options = backend_options(a, a.backend, s3, location)
    if a.emit is not None:  # where it writes, checked before any planning or upload
        if a.backend in ("local", "aws-batch"):
            raise UserError(f"--emit writes a script or manifest for slurm, kubernetes and gcp-batch, not {a.backend}")
        if a.backend != "slurm":
            from .handover import emit_dir

            emit_dir(location, a.emit)
    store = None
    if remote:  # before any planning: a bucket we cannot reach or may not fill fails at once
        from .remote import check_prefix
        from .s3 import S3Store

        store = S3Store(location, s3)
        check_prefix(store, a.overwrite)
    require_blender()
    if not (a.blend or a.import_path or a.demo):
        raise UserError("give the scene: --blend PATH, --import PATH or --demo")
    from .handover import submit_made_job
    from .remote import staging_dir
    from .submit import make_job

    source = Source(blend=a.blend, import_path=a.import_path, demo=a.demo, object=a.object)
    job_dir = staging_dir() if remote else location
    try:
        planned = make_job(settings, source, job_dir, a.shards, a.backend, options, a.overwrite or remote,
                           not a.verbose)  # fmt: skip
        try:
            if remote:
                print(f"uploading the job to {location}", file=sys.stderr)
            line = submit_made_job(location, job_dir, s3, a.overwrite, a.emit, a.apply, a.retries, Progress())
        finally:
            planned.release()
    finally:
        if remote:
            shutil.rmtree(job_dir, ignore_errors=True)
    print(line)
    return EXIT_OK


def _retry_missing(location, a, s3) -> int:
    from .handover import retry_missing

    typed = [a.partition, a.time, a.cpus_per_task, a.mem, a.max_running, a.worker_command, *a.sbatch_arg]
    slurm = slurm_options(a) if any(v is not None and v != [] for v in typed) else None
    batch = None
    if isinstance(location, S3Url):
        from .aws_batch import options_of
        from .handover import store_of
        from .remote import read_spec

        spec = read_spec(store_of(location, s3))
        if spec.backend == "aws-batch":
            batch = typed_batch_options(a, options_of(spec)[0])
    print(retry_missing(location, s3, a.emit, a.apply, a.retries, Progress(), slurm, batch))
    return EXIT_OK


def _job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = Parser(prog=prog, description=description)
    p.add_argument("--job", metavar="DIR|s3://BUCKET/PREFIX", required=True)
    add_s3_options(p)
    return p


def worker(args: list[str]) -> int:
    p = _job_parser("cli.py worker", "Render one shard of a job (a batch engine's task).")
    p.add_argument("--shard", metavar="I/N", help="default: the engine's task index (SLURM_ARRAY_TASK_ID, ...)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="render threads (0: all cores)")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--under-parent", action="store_true", help=argparse.SUPPRESS)  # its parent holds the lock
    a = p.parse_args(args)
    if not 0 <= a.threads <= 1024:
        raise UserError("--threads must be 0 to 1024")
    location, s3 = parse_location(a.job), s3_options(a)
    shard = parse_shard(a.shard) if a.shard is not None else None
    require_blender()
    if isinstance(location, S3Url):
        from .remote import run_remote_worker

        job, shard, uploads = run_remote_worker(location, s3, shard, a.threads, not a.verbose, Progress())
        print(f"rendered shard {shard[0]}/{shard[1]} of {location}: {job.render.done} views; "
              f"uploaded {uploads.views} views ({uploads.files} files)")  # fmt: skip
        return EXIT_OK
    from .worker import run_worker

    job, shard = run_worker(location, shard, a.threads, not a.verbose, Progress(), a.under_parent)
    print(f"rendered shard {shard[0]}/{shard[1]} of {a.job}: {job.render.done} views")
    return EXIT_OK


def status(args: list[str]) -> int:
    a = _job_parser("cli.py status", "Views done per shard, and each task as the engine sees it.").parse_args(args)
    from .status import job_status

    st = job_status(parse_location(a.job), s3_options(a))
    for s in st.shards:
        print(s.line(st.spec.shards))
    for line in st.engine:
        print(line)
    print(f"status: {st.done}/{st.total} views done in {st.spec.shards} shards ({st.spec.backend})")
    return EXIT_OK if st.done == st.total else EXIT_FAILED


def collect(args: list[str]) -> int:
    p = _job_parser("cli.py collect", "Check every view of a job and write the dataset. No Blender.")
    p.add_argument("--out", metavar="DIR", help="where the dataset goes (default: the job folder itself)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset of ours already in --out")
    a = p.parse_args(args)
    from ..app.validate import validate

    location = parse_location(a.job)
    if a.out and isinstance(parse_location(a.out), S3Url):
        raise UserError("--out is a folder here; collect downloads a job's dataset, it does not upload one")
    if isinstance(location, S3Url):
        if not a.out:
            raise UserError(f"give --out DIR: the dataset of {location} is downloaded there")
        out = Path(a.out).expanduser().absolute()
    else:
        out = Path(a.out or a.job).expanduser().absolute()
    from .handover import download

    written = download(location, out, s3_options(a), a.overwrite, Progress(what="downloaded {} files"))
    print(f"wrote {len(written)} dataset files to {out}")
    report = validate(out)
    print(f"validate: {report.summary()}")
    return EXIT_FAILED if report.problems else EXIT_OK


def cancel(args: list[str]) -> int:
    a = _job_parser("cli.py cancel", "Cancel every task of a job with the engine's own cancel.").parse_args(args)
    from .handover import cancel as cancel_job

    print(cancel_job(parse_location(a.job), s3_options(a)))
    return EXIT_OK


COMMANDS = {"submit": submit, "worker": worker, "status": status, "collect": collect, "cancel": cancel}


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
