"""One function per user action on a job, called by ``cli.py`` (``commands.jobs``) and by the panel's operators
alike, with typed values: submit (``make`` on the main thread, which needs the open scene, then ``hand_over``,
which does not), ``job_status``, ``retry_missing``, ``cancel`` and ``collect``; and ``render_with_workers``, the
local engine under ``cli.py --workers N``.

Every engine's settings live in the job (``spec.options``), so retrying, cancelling and following a job need
nothing but its place (``cloud.places``): its location and, for a bucket, how to reach it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core.errors import UserError
from ..core.layout import COLLECTION_DIR
from ..core.options import Meta, OptionError, Options, family, option, required
from .engines import ENGINES, engine_of
from .engines.engine import RETRIES, Engine, Start
from .status import job_status, refuse_busy


@family
@dataclass(frozen=True)
class JobLocation(Options):
    """Which job a command acts on."""

    job: str = required(Meta(
        "--job", "The job", "the job: a folder every node reads, or a prefix in S3", "DIR|s3://BUCKET/PREFIX",
        panel="none"))  # fmt: skip


@family
@dataclass(frozen=True)
class SubmitOptions(Options):
    """What a submission asks beside the dataset's settings and its engine's own options."""

    FAMILY = "submission"

    backend: str = option("local", Meta(
        "--backend", "Where", "where the shards run", "NAME", noun="engine", panel="none",
        choices=tuple((n, e.label, "") for n, e in ENGINES.items())))  # fmt: skip
    shards: int = option(1, Meta(
        "--shards", "Shards", "tasks of the job array; each renders its share of the views", "N", 1, 100_000,
        shown=4))  # fmt: skip
    emit: str | None = option(None, Meta(
        "--emit", "Emit Folder", "only write the engine's script or manifest (into DIR), do not submit", "DIR",
        const="", panel="none"))  # fmt: skip
    apply: bool = option(False, Meta(
        "--apply", "Apply", "kubectl apply the manifest (kubectl must be configured)", panel="none"))  # fmt: skip


@dataclass(frozen=True)
class Submission:
    """A job asked for, every value checked (``submission``): where it lives, on which engine, how."""

    place: object
    """A ``cloud.places`` place: the job's folder, or its prefix in a bucket with how to reach it."""
    engine: Engine
    options: object
    """The engine's option family (its own flags or panel settings), or None."""
    asked: SubmitOptions = field(default_factory=SubmitOptions)
    overwrite: bool = False
    retries: int = RETRIES

    def start(self, shards: list[int], progress=None) -> Start:
        a = self.asked
        return Start(shards, self.options, a.emit, a.apply, self.retries, progress)


def submission(place, asked: SubmitOptions, options=None, overwrite: bool = False, retries: int = RETRIES,
               check_existing: bool = True) -> Submission:  # fmt: skip
    """The submission asked for, refused in one sentence before any planning or upload: a place its engine does
    not take, an ``--emit`` it cannot write and, with ``check_existing`` (it asks the bucket: not on Blender's
    main thread), a bucket that is not ours to fill or a job whose tasks still run (``hand_over`` asks again)."""
    engine = ENGINES[asked.backend]
    check_place(engine, place)
    options = engine.prepare(options, place) if options is not None else None
    sub = Submission(place, engine, options, asked, overwrite, retries)
    check_emit(engine, asked.emit)
    engine.check(place, options, sub.start(list(range(asked.shards))))
    check_apply(engine, asked.apply)
    if check_existing:
        may_replace(place, overwrite)
    return sub


def may_replace(place, overwrite: bool) -> None:
    """The job's place takes a new job: empty, or ours and ``overwrite`` with none of its tasks running."""
    existing = place.existing_job(overwrite)
    if existing is not None:
        refuse_busy(place, existing)


def check_place(engine: Engine, place) -> None:
    if place.kind in engine.places:
        return
    if "folder" in engine.places:
        takers = [n for n, e in ENGINES.items() if place.kind in e.places and e.submits]
        raise UserError(f"--backend {engine.name} runs the job in a folder; give --job DIR, or --backend {takers[0]}")
    raise UserError(f"--backend {engine.name} takes the job from S3: give --job s3://BUCKET/PREFIX")


def check_emit(engine: Engine, emit: str | None) -> None:
    if emit is not None and not engine.emits:
        writers = [n for n, e in ENGINES.items() if e.emits]
        raise OptionError("emit", f"{{}} writes a script or manifest for {', '.join(writers[:-1])} and {writers[-1]}, "
                          f"not {engine.name}")  # fmt: skip


def check_apply(engine: Engine, apply: bool) -> None:
    if apply and not engine.applies:
        appliers = " and ".join(n for n, e in ENGINES.items() if e.applies)
        raise OptionError("apply", f"{{}} is a {appliers} option, not one of --backend {engine.name}")


@dataclass
class MadeJob:
    """A job made and not yet handed over: its folder (a bucket's scratch folder) and the held plan."""

    submission: Submission
    folder: Path
    planned: object
    """``app.pipeline.Planned``: the job folder's lock is held until ``release``."""

    def release(self) -> None:
        self.planned.release()
        self.submission.place.drop_staging(self.folder)


def make(sub: Submission, settings, source, quiet: bool = True) -> MadeJob:
    """The Blender half of a submission (the open scene is needed): plan once, track the surface points, pack
    the scene, write the job, in its folder or, for a bucket, in a scratch folder."""
    from .submit import make_job

    place, folder = sub.place, sub.place.staging()
    record = sub.engine.record(sub.options, place.reach)
    replace_ours = sub.overwrite or place.kind != "folder"  # a scratch folder is always a new one
    try:
        planned = make_job(settings, source, folder, sub.asked.shards, sub.engine.name, record, replace_ours, quiet)
    except BaseException:
        place.drop_staging(folder)
        raise
    return MadeJob(sub, folder, planned)


def hand_over(made: MadeJob, progress=None) -> str:
    """The second half of a submission: upload the job when it lives in a bucket, then start every shard (or
    write the engine's file). No Blender: the panel runs it in a thread. Releases the job either way; returns
    one line for the user."""
    sub = made.submission
    try:
        spec, plan = read_made(made.folder, sub.place.kind)
        may_replace(sub.place, sub.overwrite)
        sub.place.hand_in(made.folder, sub.overwrite)
        try:
            return sub.engine.start(sub.place, spec, plan, sub.start(list(range(spec.shards)), progress))
        except UserError as exc:
            sub.place.take_back()  # a queue typo leaves no job in a bucket that blocks the next try
            if sub.place.kind == "folder":  # the job is made and its folder kept: say how to start it
                raise UserError(f"{exc}; the job in {sub.place} is made: cli.py submit --retry-missing --job "
                                f"{sub.place} [options] starts it") from None  # fmt: skip
            raise
        except BaseException:
            sub.place.take_back()
            raise
    finally:
        made.release()


def read_made(folder: Path, kind: str):
    """A job just made (a scene's or a collection's), read back as any worker reads it."""
    from .collection_job import read_collection_job
    from .job import read_job

    if (Path(folder) / COLLECTION_DIR).is_dir():
        return read_collection_job(folder, ENGINES, kind)
    return read_job(folder, ENGINES, kind=kind)


def submit(sub: Submission, settings, source, quiet: bool = True, progress=None) -> str:
    """``cli.py submit``: make the job, then hand it over."""
    return hand_over(make(sub, settings, source, quiet), progress)


def submit_collection(sub: Submission, settings, options, collection, progress=None) -> str:
    """``cli.py submit --import-dir | --import-list``: the batch made a job (no Blender), then handed over."""
    from .collection_submit import make_collection

    folder, held = make_collection(sub, settings, options, collection)
    return hand_over(MadeJob(sub, folder, held), progress)


def retry_missing(place, typed: dict | None = None, emit: str | None = None, apply: bool = False,
                  retries: int = RETRIES, progress=None, retry_failed: bool = False) -> str:  # fmt: skip
    """Start again only the shards with missing views (a collection's: assets) that the engine is not running or
    about to run, with the job's own engine options, or with ``typed`` ones in their place (Slurm's become the
    job's). ``retry_failed``: a collection's failed assets count as missing (their records are dropped)."""
    spec, _ = place.read(need_scene=False)
    if retry_failed and spec.kind != "collection":
        raise UserError("--retry-failed renders a collection's failed assets again; this job renders one scene "
                        "(--retry-missing renders its missing views)")  # fmt: skip
    with place.submitting(engine_of(spec)):
        return _retry(place, typed, emit, apply, retries, progress, retry_failed)


def _retry(place, typed, emit, apply, retries, progress, retry_failed=False) -> str:
    status = job_status(place)
    if retry_failed:
        from .collection_status import forget_failed

        if forget_failed(place, status):
            status = job_status(place)
    spec, engine = status.spec, engine_of(status.spec)
    busy = [s.index for s in status.shards if s.busy]
    todo = [s.index for s in status.shards if s.missing and not s.busy]
    if not todo and not busy:
        todo = status.repair(place)
    check_emit(engine, emit)
    check_apply(engine, apply)
    if not todo:
        return f"no shard to resubmit in {place} ({len(busy)} still pending or running)"
    options = engine.recorded(spec)
    kept = [n for n in typed or {} if n in engine.kept_on_retry]
    if kept:
        raise OptionError(kept[0], "{} is the job's own: status and cancel find its tasks by it")
    if typed and options is not None:
        options = replace(options, **typed)
    start = Start(todo, options, emit, apply, retries, progress)
    engine.check(place, options, start)
    line = engine.start(place, spec, status.plan, start)
    if typed and engine.persists_retry_options:  # once the engine took them
        place.write_spec(engine.with_recorded(spec, options))
    return line


def cancel(place) -> str:
    """The engine's own cancel for every task of the job."""
    spec, _ = place.read(need_scene=False)
    engine = engine_of(spec)
    with place.submitting(engine):
        return engine.cancel(place, spec)


def collect(place, out: Path | None = None, overwrite: bool = False, progress=None):
    """``cli.py collect``: every view checked, the dataset written into ``out`` (downloaded first from a
    bucket; default: a job folder itself), then checked as ``cli.py validate`` checks it. Returns (the files
    written, the folder, the validation's ``Report``)."""
    from ..app.validate import validate

    out = Path(out).expanduser().absolute() if out is not None else place.default_out()
    written = place.collect(out, overwrite, progress)
    if place.job_kind() == "collection":
        return written, out, None  # each asset's dataset was validated when its worker made it
    return written, out, validate(out)


def render_with_workers(settings, source, run, progress=None):
    """``cli.py --workers N``: the local engine on the output folder. Plan once (the folder becomes a job), N
    ``cli.py worker`` processes, one collect; the folder's lock is this process's throughout. Returns the
    ``Planned`` (its lock held: the caller releases it)."""
    from ..app.dataset import finalise
    from ..app.pipeline import plan_dataset
    from .engines.local import ViewWork, run_workers
    from .submit import write_job_files

    planned = plan_dataset(settings, source, run)
    try:
        local = ENGINES["local"]
        workers = min(run.workers, len(planned.plan.views))  # a worker more than views would have nothing to do
        write_job_files(planned, workers, local.name, local.record(None, None))
        run_workers(ViewWork(planned.plan, planned.out_dir), planned.out_dir, workers, run.retries, progress)
        finalise(planned.out_dir, planned.plan)
    except BaseException:
        planned.release()
        raise
    return planned
