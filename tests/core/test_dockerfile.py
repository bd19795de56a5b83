"""The worker image's recipe, read as text (no Docker here): the same pins as the tests use, the entrypoint the
back-ends' manifests assume, the user they run as, and every package the add-on imports copied in."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

from nerf_dataset.cloud.words import IMAGE_ADDON_DIR, WORKER_UID

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "exporters", "stream", "app", "cloud", "blender_io", "commands", "operators", "panels")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def pip_pins() -> dict[str, str]:
    (run,) = [args for op, args in instructions() if op == "RUN" and "pip install" in args]
    words = shlex.split(run)
    assert "--no-cache-dir" in words
    return {re.split(r"[=<>]", w, maxsplit=1)[0].lower(): w for w in words if re.match(r"[A-Za-z]\w*[=<>]", w)}


def requirement_pins() -> dict[str, str]:
    lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    specs = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    return {re.split(r"[=<>\[]", s, maxsplit=1)[0].lower(): s for s in specs}


def test_the_image_pins_what_the_tests_pin():
    pins, wanted = pip_pins(), requirement_pins()
    assert set(pins) == {"bpy", "boto3", "numpy", "pillow"}
    for name in ("boto3", "numpy", "pillow"):
        assert pins[name] == wanted[name]
    (bpy,) = re.findall(r"^BPY \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert pins["bpy"] == f"bpy=={bpy}"


def test_the_entrypoint_runs_the_addons_cli_as_the_manifests_assume():
    (entry,) = [json.loads(args) for op, args in instructions() if op == "ENTRYPOINT"]
    assert entry == ["python", f"{IMAGE_ADDON_DIR}/cli.py"]
    assert [args for op, args in instructions() if op == "FROM"] == ["python:3.11-slim"]
    (copy,) = [args.split() for op, args in instructions() if op == "COPY"]
    assert copy == [".", IMAGE_ADDON_DIR]


def test_the_worker_runs_as_the_user_the_manifests_name_not_root():
    (user,) = [args for op, args in instructions() if op == "USER"]
    assert user == f"{WORKER_UID}:{WORKER_UID}"
    assert any(op == "RUN" and f"--uid {WORKER_UID}" in args for op, args in instructions())


def test_the_headless_libraries_bpy_needs_are_installed():
    (apt,) = [args for op, args in instructions() if op == "RUN" and "apt-get install" in args]
    needed = "libx11-6 libxrender1 libxxf86vm1 libxfixes3 libxi6 libxkbcommon0 libsm6 libgl1 libegl1 libegl-mesa0"
    assert set(needed.split()) <= set(apt.split())


GLOB = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``rel`` out of the build context: the last pattern matching it or a folder above
    it decides (``!`` re-includes); ``*`` and ``?`` stay within a name, ``**`` spans folders."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        body = pattern.lstrip("!").strip("/")
        tokens = re.findall(r"\*\*/|\*\*|\*|\?|[^*?]+", body)
        regex = "".join(GLOB.get(tok) or re.escape(tok) for tok in tokens)
        if any(re.fullmatch(regex, p) for p in prefixes):
            verdict = not keep
    return verdict


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def test_every_package_the_addon_imports_is_copied_into_the_image():
    patterns = dockerignore()
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert set(PACKAGES) <= packages
    files = ["__init__.py", "cli.py", "blender_manifest.toml"]
    files += [str(f.relative_to(ROOT)) for pkg in sorted(packages) for f in (ROOT / pkg).rglob("*.py")]
    left_out = [f for f in files if "__pycache__" not in f and ignored(f, patterns)]
    assert left_out == []


def test_what_the_extension_leaves_out_the_image_leaves_out_too():
    patterns = dockerignore()
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    for pattern in manifest["build"]["paths_exclude_pattern"]:
        example = pattern.strip("/").replace("*", "x")
        assert ignored(example, patterns) and ignored(f"{example}/inner.py", patterns), pattern
    for folder in ("tests", "bench", "docs", "tools", ".venv", "out", "wheels", "core/__pycache__"):
        assert ignored(f"{folder}/x.py", patterns), folder
    assert not ignored("cloud/kubernetes.py", ["**/__pycache__", "!cloud"]) and ignored("a/b.zip", ["**/*.zip"])
