"""Every external tool an engine runs (``sbatch``, ``squeue``, ``scontrol``, ``scancel``, ``kubectl``, ...), run one
way: with a timeout, its output bounded, the whole process group it started killed when it overstays, and one
sentence when it is missing, cannot start, hangs or fails. What a tool prints is read as hostile (bounded here;
its parser checks the rest).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError

COMMAND_TIMEOUT_S = 60
MAX_OUTPUT_BYTES = 64 * 2**20
"""What a tool may print before we stop reading: a Job is a few KiB, the pods of 100 000 shards more."""


@dataclass(frozen=True)
class ToolResult:
    code: int
    """The tool's exit status; -1 when it printed more than ``MAX_OUTPUT_BYTES`` (no answer of ours)."""
    out: str
    err: str

    def last_line(self) -> str:
        return last_line(self.err or self.out, self.code)


def find_tool(name: str, missing: str) -> str:
    """The tool's path on PATH, or one sentence saying ``missing`` (what to do without it)."""
    found = shutil.which(name)
    if not found:
        raise UserError(f"{name} is not on PATH: {missing}")
    return found


def run_tool(cmd: list[str], check: bool = False) -> ToolResult:
    """Run ``cmd`` within ``COMMAND_TIMEOUT_S``; with ``check``, a non-zero exit is one sentence ("sbatch failed:
    its last line"). The tool runs in a process group of its own (POSIX), so what it started (a credential
    plugin) goes with it when it is stopped."""
    name = Path(cmd[0]).name
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)  # fmt: skip
    except OSError as exc:
        raise UserError(f"{name} could not start: {exc.strerror}") from None
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    out, err = bytearray(), bytearray()
    readers = [
        threading.Thread(target=_drain, args=pair, daemon=True) for pair in ((proc.stdout, out), (proc.stderr, err))
    ]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=COMMAND_TIMEOUT_S)
        for reader in readers:  # a child that kept the pipes open keeps them within the time too
            reader.join(timeout=max(0.0, deadline - time.monotonic()))
        if any(reader.is_alive() for reader in readers):
            raise subprocess.TimeoutExpired(cmd, COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise UserError(f"{name} did not answer within {COMMAND_TIMEOUT_S} s") from None
    if max(len(out), len(err)) > MAX_OUTPUT_BYTES:
        result = ToolResult(-1, "", f"{name} printed more than {MAX_OUTPUT_BYTES} bytes")
    else:
        result = ToolResult(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    if check and result.code != 0:
        raise UserError(f"{name} failed: {last_line(result.err, result.code)}")
    return result


def last_line(text: str, code: int) -> str:
    """A tool's last words, printable and short (they reach a terminal and the panel)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1][:500] if lines else f"exit {code}"
    return "".join(c for c in last if c.isprintable())


def _drain(stream, sink: bytearray) -> None:
    """Read ``stream`` to its end, keeping at most ``MAX_OUTPUT_BYTES`` + 1 bytes of it."""
    with stream:
        while chunk := stream.read1(1 << 16):
            if len(sink) <= MAX_OUTPUT_BYTES:
                sink += chunk[: MAX_OUTPUT_BYTES + 1 - len(sink)]


def _stop(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and the process group it leads, then reap it."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except ProcessLookupError:
        pass
    proc.wait()
