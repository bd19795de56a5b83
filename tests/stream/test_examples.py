"""The README's streaming examples run as written (a few steps each)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.blender

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(script: str, *args: str) -> str:
    res = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_the_quick_start_trains_on_streamed_frames():
    out = _run("stream_quickstart.py", "--steps", "6")
    steps = [line for line in out.splitlines() if line.startswith("step")]
    assert len(steps) >= 6 and all("loss" in s for s in steps)


def test_the_blendtorch_style_cube_example_streams_and_records(tmp_path):
    out = _run("blendtorch_cube.py", "--batches", "4", "--record", str(tmp_path / "rec"))
    assert "corners (4, 8, 2)" in out and "16 frames in" in out
    assert (tmp_path / "rec" / "index.jsonl").read_text().count("\n") == 16
