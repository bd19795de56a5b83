"""``make`` on a machine whose Python is not 3.11: one clear line instead of pip's "no matching distribution",
and a venv made by the wrong Python is rebuilt rather than reused forever.

Runs the real Makefile in a scratch folder with fake Pythons (shell scripts that claim a version and log
what they are asked to do), so nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

# A Python that says it is VERSION; ``-m venv DIR`` makes DIR/bin/python a copy of itself; every -m is logged.
FAKE = """#!/bin/sh
case "$1" in
  -c) echo {version} ;;
  -m) [ "$2" = venv ] && mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; echo "{name} $*" >> "$FAKE_LOG" ;;
esac
"""


def fake_python(folder: Path, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(FAKE.format(version=version, name=name))
    path.chmod(0o755)
    return path


@pytest.fixture
def project(tmp_path):
    for name in ("Makefile", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def make(project: Path, *args, path_dirs=()) -> subprocess.CompletedProcess:
    env = dict(os.environ, FAKE_LOG=str(project / "log"))
    for name in ("MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKELEVEL", "BPY"):  # as a user types it, not a sub-make
        env.pop(name, None)
    env["PATH"] = os.pathsep.join([*map(str, path_dirs), env["PATH"]])
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=project, capture_output=True, text=True, timeout=60, env=env
    )


def log(project: Path) -> list[str]:
    path = project / "log"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("goal", ["venv", "demo", "test"])
def test_another_python_is_refused_in_one_line(project, goal):
    py312 = fake_python(project / "bin", "python3", "3.12")
    r = make(project, goal, f"PYTHON={py312}")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "needs Python 3.11" in lines[0] and "is Python 3.12" in lines[0]
    assert f"make {goal} PYTHON=python3.11" in lines[0]
    assert log(project) == [] and not (project / ".venv").exists()  # no venv, no pip


def test_a_python_that_does_not_run_is_named(project):
    r = make(project, "venv", "PYTHON=no-such-python3")
    assert r.returncode != 0
    assert "PYTHON=no-such-python3 does not run" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_venv_of_another_python_is_rebuilt(project):
    old = fake_python(project / ".venv" / "bin", "python", "3.12")  # left over from a run with Python 3.12
    py311 = fake_python(project / "bin", "python3.11", "3.11")
    r = make(project, "venv", f"PYTHON={py311}")
    assert r.returncode == 0, r.stderr
    assert log(project)[0] == "python3.11 -m venv .venv"
    assert "python3.11 -m pip install -q bpy==5.0.1 -r requirements-dev.txt" in log(project)
    assert "echo 3.11" in old.read_text()  # the venv's python is now the 3.11 one
    assert (project / ".venv" / ".installed-bpy-5.0.1").is_file()


def test_a_good_venv_is_kept_whatever_python3_is(project):
    fake_python(project / ".venv" / "bin", "python", "3.11")
    py312 = fake_python(project / "bin", "python3", "3.12")
    r = make(project, "venv", f"PYTHON={py312}")
    assert r.returncode == 0, r.stderr
    assert [line.split()[2] for line in log(project)] == ["pip", "pip"]  # no new venv: pip in the old one
    assert any("bpy==5.0.1" in line for line in log(project))


def test_python3_11_is_preferred_when_python3_is_another_version(project):
    bin_dir = project / "bin"
    fake_python(bin_dir, "python3", "3.12")
    fake_python(bin_dir, "python3.11", "3.11")
    r = make(project, "-n", "venv", path_dirs=[bin_dir])
    assert r.returncode == 0, r.stderr
    assert "python3.11 -m venv .venv" in r.stdout
