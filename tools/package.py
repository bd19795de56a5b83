"""Build the installable extension zips with Blender's own builder, one per platform, then validate them.

The extension's runtime dependencies ship the Blender-extension way: wheels listed in
``blender_manifest.toml`` under ``./wheels/``, unmodified from the package index. Pillow (PNG encoding for
the passes, downscales and preview) has one binary wheel per platform; boto3 (the S3 / AWS Batch cloud
back-ends) and its dependencies botocore, s3transfer, jmespath, python-dateutil and six are pure Python
(``*-none-any``). urllib3 is not bundled: Blender ships it (see the manifest's comment).

This tool downloads the listed wheels that are missing (pip: a platform's binary wheels with that
platform's tag, the platform-independent ones once with ``--platform any``), then runs ``blender_ext.py
build --split-platforms``, which puts each platform's own wheels and every ``any`` wheel into that
platform's zip. Run with the project's Python (``make package``); prints the zips' paths.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Blender 4.5 and 5.0 embed Python 3.11.
PYTHON_VERSION = "3.11"
# Wheel platform tag per Blender platform, as pip download asks for them.
PIP_PLATFORMS = {
    "linux-x64": "manylinux_2_28_x86_64",
    "macos-arm64": "macosx_11_0_arm64",
    "windows-x64": "win_amd64",
}
# The platform tag of a pure-Python wheel (py3-none-any): it goes into every platform's zip.
ANY = "any"


def blender_ext() -> Path:
    import bpy  # noqa: F401 - only to find the bundled tool next to it

    scripts = Path(bpy.utils.resource_path("LOCAL")) / "scripts"
    return scripts / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"


def manifest() -> dict:
    return tomllib.loads((ROOT / "blender_manifest.toml").read_text())


def fetch_wheels() -> None:
    """Download the manifest's wheels that are not in ./wheels yet."""
    wanted = [ROOT / w for w in manifest().get("wheels", [])]
    missing = [w for w in wanted if not w.is_file()]
    strays = [w.name for w in missing if _platform_of(w.name) is None]
    if strays:
        raise SystemExit(f"wheels in blender_manifest.toml for no platform this tool knows: {', '.join(strays)}")
    for platform, tag in {**PIP_PLATFORMS, ANY: ANY}.items():
        names = [w for w in missing if _platform_of(w.name) == platform]
        if not names:
            continue
        pins = sorted({"==".join(w.name.split("-")[:2]) for w in names})
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
             PYTHON_VERSION, "--platform", tag, "-d", str(ROOT / "wheels"), *pins],
            check=True,
        )  # fmt: skip
    still = [w.name for w in wanted if not w.is_file()]
    if still:
        raise SystemExit(f"wheels listed in blender_manifest.toml could not be downloaded: {', '.join(still)}")


def _platform_of(wheel: str) -> str | None:
    """The Blender platform a wheel is for, ANY for a platform-independent one, None when it is neither."""
    tag = wheel.removesuffix(".whl").rsplit("-", 1)[-1]  # may be compressed: manylinux_2_27_x86_64.manylinux_...
    if tag == ANY:
        return ANY
    if "manylinux" in tag and "x86_64" in tag:
        return "linux-x64"
    if "macosx" in tag and "arm64" in tag:
        return "macos-arm64"
    if "win_amd64" in tag:
        return "windows-x64"
    return None


def build(out_dir: Path = ROOT / "dist") -> list[Path]:
    """One zip per platform of the manifest, each with only that platform's wheels."""
    fetch_wheels()
    m = manifest()
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob(f"{m['id']}-{m['version']}*.zip"):
        old.unlink()
    tool = str(blender_ext())
    run = lambda *args: subprocess.run([sys.executable, tool, *args], check=True, capture_output=True, text=True)
    run("build", "--source-dir", str(ROOT), "--output-dir", str(out_dir), "--split-platforms")
    zips = sorted(out_dir.glob(f"{m['id']}-{m['version']}-*.zip"))
    for z in zips:
        run("validate", str(z))
    return zips


def for_this_machine(zips: list[Path]) -> Path:
    import platform

    machine = {"x86_64": "x64", "AMD64": "x64", "arm64": "arm64", "aarch64": "arm64"}[platform.machine()]
    system = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}[platform.system()]
    return next(z for z in zips if z.stem.endswith(f"{system}_{machine}"))


if __name__ == "__main__":
    for path in build():
        print(path)
