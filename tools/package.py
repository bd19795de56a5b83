"""Build dist/nerf_dataset-<version>.zip with Blender's own extension builder, then validate the zip.

Run with the project's Python (``make package``); prints the zip's path.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def blender_ext() -> Path:
    import bpy  # noqa: F401 - only to find the bundled tool next to it

    scripts = Path(bpy.utils.resource_path("LOCAL")) / "scripts"
    return scripts / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"


def build(out_dir: Path = ROOT / "dist") -> Path:
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    zip_path = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path.unlink(missing_ok=True)
    tool = str(blender_ext())
    run = lambda *args: subprocess.run([sys.executable, tool, *args], check=True, capture_output=True, text=True)
    run("build", "--source-dir", str(ROOT), "--output-filepath", str(zip_path))
    run("validate", str(zip_path))
    return zip_path


if __name__ == "__main__":
    print(build())
