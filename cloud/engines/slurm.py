"""The ``slurm`` engine: one job array, one task per shard, on a filesystem the nodes share.

It writes the array script into the job folder and runs ``sbatch --array``; each task runs ``cli.py worker --job
DIR``, whose shard is ``SLURM_ARRAY_TASK_ID``. ``status`` asks ``squeue`` and ``scontrol``; ``--retry-missing``
submits a new array of only the shards with missing views (the Slurm options typed for it become the job's).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

from ...app.processes import this_cli_command
from ...core.errors import UserError
from ...core.files import write_json_atomic, write_text_atomic
from ...core.layout import BACKEND_DIR, LOG_DIR
from ...core.options import Meta, OptionError, Options, family, option
from ...core.untrusted import Unreadable, present, read_bounded
from ..job import shard_list_text
from ..tools import find_tool, run_tool
from .engine import Engine, Start

SCRIPT = f"{BACKEND_DIR}/slurm-array.sh"
SCRIPT_TRIAL = f"{BACKEND_DIR}/slurm-array.next.sh"
"""The script while sbatch decides: it becomes ``SCRIPT`` once taken."""
SUBMISSIONS = f"{BACKEND_DIR}/slurm.json"
NOT_HERE = "run this on a Slurm login node (or install slurm-client)"
MAX_SUBMISSIONS_BYTES = 16 << 20


@family
@dataclass(frozen=True)
class SlurmOptions(Options):
    FAMILY = "Slurm"
    PANEL_PREFIX = "slurm_"

    partition: str | None = option(
        None,
        Meta(
            "--partition",
            "Partition",
            "the Slurm partition",
            "NAME",
            none_means="the cluster's default",
            word=r"[\w.,-]{1,200}",
            what="a Slurm partition",
        ),
    )
    time: str | None = option(
        None,
        Meta(
            "--time",
            "Time Limit",
            "time limit per task, as sbatch takes it: 30, 2:00:00, 1-0",
            "LIMIT",
            none_means="the partition's",
            word=r"[\d:-]{1,20}",
            what="a Slurm time",
        ),
    )
    cpus_per_task: int | None = option(
        None,
        Meta(
            "--cpus-per-task", "CPUs per Task", "CPUs of each task (its render threads)", "N", 1, 100_000, panel="none"
        ),
    )
    mem: str | None = option(
        None,
        Meta(
            "--mem",
            "Memory",
            "memory per task, as sbatch takes it (4G)",
            "SIZE",
            word=r"\d{1,12}[KMGT]?",
            what="a Slurm mem",
            panel="none",
        ),
    )
    max_running: int | None = option(
        None,
        Meta(
            "--max-running", "Tasks at Once", "at most M tasks at once (--array=...%M)", "M", 1, 100_000, panel="none"
        ),
    )
    sbatch_args: tuple[str, ...] = option(
        (), Meta("--sbatch-arg", "sbatch Arguments", "an extra sbatch argument", "ARG", repeat=True, panel="none")
    )
    worker_command: tuple[str, ...] = option((), Meta(
        "--worker-command", "Worker Command", "what runs cli.py on the nodes (default: this Python or Blender and "
        "this cli.py)", "CMD", shell=True, panel="none"))  # fmt: skip

    def check(self) -> None:
        if not all(self.sbatch_args) or not all(self.worker_command):
            raise UserError("--sbatch-arg and --worker-command take plain words (no newlines)")


class SlurmEngine(Engine):
    name, label = "slurm", "Slurm"
    index_variable = "SLURM_ARRAY_TASK_ID"
    options = SlurmOptions
    emits = "the array script"
    panel = "Slurm"
    panel_help = ("A job array on a Slurm cluster (sbatch must run here); the Output folder is the job folder, "
                  "on a filesystem every node reads")  # fmt: skip
    persists_retry_options = True

    def record(self, opts, reach) -> dict:
        return (opts or SlurmOptions()).to_record()  # flat: the job format of the first engine

    def recorded(self, spec) -> SlurmOptions:
        return SlurmOptions.from_record(spec.options)

    def with_recorded(self, spec, opts):
        return replace(spec, options=self.record(opts, None))

    def check(self, place, opts, start: Start) -> None:
        check_folder(place.location)
        if start.emit:
            raise OptionError("emit", "{} writes Slurm's script into the job folder: give it alone, without a folder")

    def start(self, place, spec, plan, start: Start) -> str:
        job_id = submit(place.location, start.shards, start.options, emit_only=start.emit is not None)
        return f"wrote {Path(place.location) / SCRIPT}" if start.emit is not None else f"submitted {job_id}"

    def task_states(self, place, spec) -> dict[int, dict]:
        return task_states(place.location)

    def cancel(self, place, spec) -> str:
        ids = [run["id"] for run in _submissions(place.location)]
        if ids:
            run_tool([find_tool("scancel", NOT_HERE), *ids], check=True)
        return f"cancelled Slurm job(s) {', '.join(ids)}" if ids else "nothing was submitted"


ENGINE = SlurmEngine()


def check_folder(job_dir: Path) -> None:
    if any(c.isspace() or not c.isprintable() for c in str(Path(job_dir).absolute())):  # #SBATCH lines: no quoting
        raise UserError(f"{str(job_dir)!r}: a Slurm job's folder must have no spaces or control characters "
                        "(sbatch reads it from the script's #SBATCH lines)")  # fmt: skip


def array_script(job_dir: Path, opts: SlurmOptions) -> str:
    job_dir = Path(job_dir).absolute()
    check_folder(job_dir)
    log = str(job_dir / LOG_DIR).replace("%", "%%")  # sbatch expands %j, %a... in --output; %% is a plain %
    lines = ["#!/bin/bash", "#SBATCH --job-name=nerf_dataset", f"#SBATCH --output={log}/shard-%a.log"]
    lines.append("#SBATCH --open-mode=append")  # a requeued or retried task adds to its log
    for flag, value in (("partition", opts.partition), ("time", opts.time), ("mem", opts.mem),
                        ("cpus-per-task", opts.cpus_per_task)):  # fmt: skip
        if value is not None:
            lines.append(f"#SBATCH --{flag}={value}")
    command = shlex.join([*(opts.worker_command or this_cli_command([])), "worker", "--job", str(job_dir)])
    lines += ["set -e", f'exec {command} --threads "${{SLURM_CPUS_PER_TASK:-0}}"']
    return "\n".join(lines) + "\n"


def array_spec(shards: list[int], max_running: int | None) -> str:
    """``0-3`` or ``1,3,5-7``, with ``%M`` when the tasks at once are limited."""
    return shard_list_text(shards) + (f"%{max_running}" if max_running else "")


def submit(job_dir: Path, shards: list[int], opts: SlurmOptions, emit_only: bool = False) -> str | None:
    """Write the script; unless ``emit_only``, submit the array of ``shards`` and return its job id. The script
    sbatch refused is not left as the job's: the one in the job folder is always one that was taken (or emitted)."""
    job_dir = Path(job_dir).absolute()
    (job_dir / LOG_DIR).mkdir(parents=True, exist_ok=True)
    text = array_script(job_dir, opts)
    if emit_only:
        write_text_atomic(job_dir / SCRIPT, text).chmod(0o755)
        return None
    trial = write_text_atomic(job_dir / SCRIPT_TRIAL, text)
    try:
        trial.chmod(0o755)
        cmd = [find_tool("sbatch", NOT_HERE), "--parsable", f"--array={array_spec(shards, opts.max_running)}"]
        out = run_tool([*cmd, *opts.sbatch_args, str(trial)], check=True).out
        job_id = out.strip().split(";")[0]
        if not job_id.isdigit():
            raise UserError(f"sbatch answered {out.strip()[:200]!r}, not a job id")
        trial.replace(job_dir / SCRIPT)
    finally:
        trial.unlink(missing_ok=True)
    runs = _submissions(job_dir)
    runs.append({"id": job_id, "shards": shards, "options": opts.to_record()})
    write_json_atomic(job_dir / SUBMISSIONS, runs)
    return job_id


def task_states(job_dir: Path) -> dict[int, dict]:
    """Each shard's task as Slurm sees it now (the latest submission of it): state, exit code, reason."""
    states: dict[int, dict] = {}
    for run in _submissions(job_dir):
        answer = run_tool([find_tool("squeue", NOT_HERE), "-h", "-t", "all", "-j", run["id"], "-o", "%i|%T|%r"])
        if answer.code != 0 and "Invalid job id" not in answer.err:  # a job long gone is no news; a failure is
            raise UserError(f"squeue failed: {answer.last_line()}; which shards run cannot be told")
        for line in answer.out.splitlines():
            task, state, reason = (line.split("|") + ["", ""])[:3]
            for i in _tasks(task, run["shards"]):
                states[i] = {"state": state, "reason": reason, "exit_code": None, "slurm_id": f"{run['id']}_{i}"}
    for st in states.values():
        if st["state"] in ("FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "COMPLETED"):
            shown = run_tool([find_tool("scontrol", NOT_HERE), "show", "job", st["slurm_id"]]).out
            code = next((w.split("=")[1] for w in shown.split() if w.startswith("ExitCode=")), None)
            st["exit_code"] = int(code.split(":")[0]) if code and code.split(":")[0].isdigit() else None
    return states


def _tasks(task: str, shards: list[int]) -> list[int]:
    """Shard indices in squeue's ``%i``: ``123_4`` or, while pending, ``123_[0-2,5%2]``."""
    _, _, rest = task.partition("_")
    if rest.isdigit():
        return [int(rest)]
    if rest.startswith("["):
        found = []
        for part in rest.strip("[]").split("%")[0].split(","):
            lo, _, hi = part.partition("-")
            if lo.isdigit():
                found += list(range(int(lo), int(hi or lo) + 1))
        return [i for i in found if i in shards]
    return []


def _submissions(job_dir: Path) -> list[dict]:
    path = Path(job_dir) / SUBMISSIONS
    if not present(path):
        return []
    try:
        runs = json.loads(read_bounded(path, job_dir, MAX_SUBMISSIONS_BYTES))
    except (Unreadable, ValueError, RecursionError):
        raise UserError(f"{path} is damaged") from None
    if not isinstance(runs, list):
        raise UserError(f"{path} is damaged")
    good = [r for r in runs if isinstance(r, dict) and isinstance(r.get("id"), str) and r["id"].isascii()]
    good = [r for r in good if r["id"].isdigit() and isinstance(r.get("shards"), list)]
    return [{**r, "shards": [i for i in r["shards"] if type(i) is int]} for r in good]
