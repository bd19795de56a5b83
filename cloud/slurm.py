"""The ``slurm`` back-end: one job array, one task per shard, on a filesystem the nodes share.

``submit`` writes the array script into the job folder and runs ``sbatch --array``; each task runs
``cli.py worker --job DIR``, whose shard is ``SLURM_ARRAY_TASK_ID``. ``status`` asks ``squeue`` and
``scontrol``; ``--retry-missing`` submits a new array of only the shards with missing views.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.errors import UserError
from ..core.files import write_json_atomic, write_text_atomic
from ..core.layout import BACKEND_DIR, LOG_DIR
from .job import shard_list_text

SCRIPT = f"{BACKEND_DIR}/slurm-array.sh"
SUBMISSIONS = f"{BACKEND_DIR}/slurm.json"
COMMAND_TIMEOUT_S = 60


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    time: str | None = None
    """Time limit per task, in sbatch's forms (``30``, ``2:00:00``, ``1-0``)."""
    cpus_per_task: int | None = None
    mem: str | None = None
    """Memory per task, in sbatch's forms (``4G``)."""
    max_running: int | None = None
    """At most this many tasks at once (``--array=...%M``)."""
    sbatch_args: tuple[str, ...] = field(default_factory=tuple)
    worker_command: tuple[str, ...] = ()
    """What runs ``cli.py`` on the nodes, as words; default: this Python (or Blender) and this ``cli.py``."""

    def __post_init__(self) -> None:
        """Every value goes into a shell script or sbatch's argv: each must be one plain word of its kind, from
        the command line and from a job folder alike (a job folder may come from anyone)."""
        for name, pattern in PATTERNS.items():
            value = getattr(self, name)
            if value is not None and not re.fullmatch(pattern, str(value)):
                raise UserError(f"--{name.replace('_', '-')} {value!r} is not a Slurm {name.replace('_', ' ')}")
        for name in ("cpus_per_task", "max_running"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or not 1 <= value <= 100_000):
                raise UserError(f"--{name.replace('_', '-')} must be 1 to 100000")
        words = (*self.sbatch_args, *self.worker_command)
        if not all(isinstance(w, str) and w and "\n" not in w and "\0" not in w for w in words):
            raise UserError("--sbatch-arg and --worker-command take plain words (no newlines)")

    @staticmethod
    def from_dict(d: dict) -> SlurmOptions:
        """The options a job recorded; anything else in it is a damaged job."""
        if not isinstance(d, dict) or not set(d) <= set(SlurmOptions.__dataclass_fields__):
            raise UserError("the job's Slurm options are damaged")
        lists = {k: tuple(d[k]) for k in ("sbatch_args", "worker_command") if isinstance(d.get(k), list)}
        if any(k in d and not isinstance(d[k], list) for k in ("sbatch_args", "worker_command")):
            raise UserError("the job's Slurm options are damaged")
        return SlurmOptions(**{**d, **lists})


PATTERNS = {"partition": r"[\w.,-]{1,200}", "time": r"[\d:-]{1,20}", "mem": r"\d{1,12}[KMGT]?"}


def default_worker_command() -> tuple[str, ...]:
    cli = str(Path(__file__).resolve().parents[1] / "cli.py")
    try:
        import bpy

        binary = bpy.app.binary_path
    except ImportError:
        binary = ""
    return (binary, "-b", "--factory-startup", "-P", cli, "--") if binary else (sys.executable, cli)


def array_script(job_dir: Path, opts: SlurmOptions) -> str:
    job_dir = Path(job_dir).absolute()
    if any(c.isspace() or not c.isprintable() for c in str(job_dir)):  # an #SBATCH line is not shell-quoted
        raise UserError(f"{str(job_dir)!r}: a Slurm job's folder must have no spaces or control characters "
                        "(sbatch reads it from the script's #SBATCH lines)")  # fmt: skip
    log = str(job_dir / LOG_DIR).replace("%", "%%")  # sbatch expands %j, %a... in --output; %% is a plain %
    lines = ["#!/bin/bash", "#SBATCH --job-name=nerf_dataset", f"#SBATCH --output={log}/shard-%a.log"]
    lines.append("#SBATCH --open-mode=append")  # a requeued or retried task adds to its log
    for flag, value in (("partition", opts.partition), ("time", opts.time), ("mem", opts.mem),
                        ("cpus-per-task", opts.cpus_per_task)):  # fmt: skip
        if value is not None:
            lines.append(f"#SBATCH --{flag}={value}")
    command = shlex.join([*(opts.worker_command or default_worker_command()), "worker", "--job", str(job_dir)])
    lines += [
        "set -e",
        f'exec {command} --threads "${{SLURM_CPUS_PER_TASK:-0}}"',
    ]
    return "\n".join(lines) + "\n"


def array_spec(shards: list[int], max_running: int | None) -> str:
    """``0-3`` or ``1,3,5-7``, with ``%M`` when the tasks at once are limited."""
    return shard_list_text(shards) + (f"%{max_running}" if max_running else "")


def submit(job_dir: Path, shards: list[int], opts: SlurmOptions, emit_only: bool = False) -> str | None:
    """Write the script; unless ``emit_only``, submit the array of ``shards`` and return its job id."""
    job_dir = Path(job_dir).absolute()
    script = write_text_atomic(job_dir / SCRIPT, array_script(job_dir, opts))
    script.chmod(0o755)
    (job_dir / LOG_DIR).mkdir(parents=True, exist_ok=True)
    if emit_only:
        return None
    cmd = [_tool("sbatch"), "--parsable", f"--array={array_spec(shards, opts.max_running)}", *opts.sbatch_args]
    out = _run([*cmd, str(script)])
    job_id = out.strip().split(";")[0]
    if not job_id.isdigit():
        raise UserError(f"sbatch answered {out.strip()!r}, not a job id")
    runs = _submissions(job_dir)
    runs.append({"id": job_id, "shards": shards, "options": asdict(opts)})
    write_json_atomic(job_dir / SUBMISSIONS, runs)
    return job_id


def task_states(job_dir: Path, spec) -> dict[int, dict]:
    """Each shard's task as Slurm sees it now (the latest submission of it): state, exit code, reason."""
    states: dict[int, dict] = {}
    for run in _submissions(job_dir):
        out = _run([_tool("squeue"), "-h", "-t", "all", "-j", run["id"], "-o", "%i|%T|%r"], check=False)
        for line in out.splitlines():
            task, state, reason = (line.split("|") + ["", ""])[:3]
            for i in _tasks(task, run["shards"]):
                states[i] = {"state": state, "reason": reason, "exit_code": None, "slurm_id": f"{run['id']}_{i}"}
    for st in states.values():
        if st["state"] in ("FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL", "COMPLETED"):
            shown = _run([_tool("scontrol"), "show", "job", st["slurm_id"]], check=False)
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
    try:
        runs = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError, RecursionError):
        raise UserError(f"{path} is damaged") from None
    if not isinstance(runs, list):
        raise UserError(f"{path} is damaged")
    good = [r for r in runs if isinstance(r, dict) and isinstance(r.get("id"), str) and r["id"].isascii()]
    good = [r for r in good if r["id"].isdigit() and isinstance(r.get("shards"), list)]
    return [{**r, "shards": [i for i in r["shards"] if type(i) is int]} for r in good]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise UserError(f"{name} is not on PATH: run this on a Slurm login node (or install slurm-client)")
    return found


def _run(cmd: list[str], check: bool = True) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(f"{Path(cmd[0]).name} did not answer within {COMMAND_TIMEOUT_S} s") from None
    if check and r.returncode != 0:
        last = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        raise UserError(f"{Path(cmd[0]).name} failed: {last}")
    return r.stdout


def cancel(job_dir: Path) -> str:
    """``scancel`` every array the job submitted."""
    ids = [run["id"] for run in _submissions(job_dir)]
    if ids:
        _run([_tool("scancel"), *ids])
    return f"cancelled Slurm job(s) {', '.join(ids)}" if ids else "nothing was submitted"
