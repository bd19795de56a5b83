"""Issue 13: a collection in one Blender process against one Blender process per asset, and memory over a batch.

1. 50 small assets (.obj, like ShapeNet's), 20 views each at 64x64, Cycles few samples: ``cli.py --import-dir``
   with 1 worker, beside one ``cli.py`` process per asset doing the same work (a one-line ``--import-list``:
   the objaverse / GET3D scripts' way of starting Blender for every model). Same views, same settings.
2. Resident memory over a batch of 200 assets (2 views at 32x32): the renderer's RSS sampled as each asset's
   record appears, so a leak between assets shows as growth per asset.

    .venv/bin/python bench/collection_speed.py [--assets 50] [--samples 4] [--rss-assets 200]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import CLI, PY, ROOT, machine

sys.path.insert(0, str(ROOT / "tests" / "blender"))
from collection_assets import l_block, write_obj  # noqa: E402

WORK = ROOT / "out" / "bench" / "collection"
VIEWS = ["--train", "14", "--val", "3", "--test", "3"]


def make_assets(folder: Path, n: int) -> list[Path]:
    paths = []
    for k in range(n):
        v, t = l_block(k % 9)
        path = folder / f"m{k:03d}.obj"
        write_obj(path, v * (1 + 0.01 * k), t)
        paths.append(path)
    return paths


def batch(folder: Path, out: Path, samples: int) -> float:
    cmd = [PY, CLI, "--import-dir", str(folder), "--out", str(out), *VIEWS, "--resolution", "64x64"]
    start = time.perf_counter()
    subprocess.run([*cmd, "--samples", str(samples), "--transparent"], check=True, capture_output=True)
    return time.perf_counter() - start


def one_per_asset(paths: list[Path], out: Path, samples: int) -> float:
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for p in paths:
        listing = out.parent / f"{p.stem}.txt"
        listing.write_text(f"{p} {p.stem}\n")
        cmd = [PY, CLI, "--import-list", str(listing), "--out", str(out / p.stem), *VIEWS, "--resolution", "64x64"]
        subprocess.run([*cmd, "--samples", str(samples), "--transparent"], check=True, capture_output=True)
    return time.perf_counter() - start


def rss_over_batch(folder: Path, out: Path, n: int) -> list[tuple[int, int]]:
    """(assets done, RSS in KiB) each time another record appears."""
    cmd = [PY, CLI, "--import-dir", str(folder), "--out", str(out), "--train", "1", "--val", "0", "--test", "1"]
    p = subprocess.Popen([*cmd, "--resolution", "32x32", "--samples", "1"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)  # fmt: skip
    records = out / ".nerf_collection" / "records"
    samples, seen = [], 0
    while p.poll() is None:
        done = len(list(records.rglob("record.json"))) if records.is_dir() else 0
        if done > seen:
            seen = done
            try:
                rss = int(next(ln for ln in open(f"/proc/{p.pid}/status") if ln.startswith("VmRSS")).split()[1])
            except (OSError, StopIteration):
                break
            samples.append((done, rss))
        time.sleep(0.02)
    return samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=50)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--rss-assets", type=int, default=200)
    a = ap.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    paths = make_assets(WORK / "assets", a.assets)
    ours = batch(WORK / "assets", WORK / "batch", a.samples)
    theirs = one_per_asset(paths, WORK / "each" / "out", a.samples)
    make_assets(WORK / "many", a.rss_assets)
    rss = rss_over_batch(WORK / "many", WORK / "rss", a.rss_assets)
    print(f"machine: {machine()}")
    print(f"{a.assets} assets x 20 views, 64x64, {a.samples} samples")
    print(f"one process, all assets: {ours:.1f} s ({ours / a.assets:.2f} s per asset)")
    print(f"one process per asset:   {theirs:.1f} s ({theirs / a.assets:.2f} s per asset)")
    print(f"speed-up: {theirs / ours:.2f}x; start-up saved per asset: {(theirs - ours) / a.assets:.2f} s")
    if len(rss) >= 20:
        early = rss[9]
        late = rss[-1]
        growth = (late[1] - early[1]) / max(late[0] - early[0], 1)
        print(f"RSS over {late[0]} assets: {early[1] / 1024:.0f} MiB after {early[0]}, {late[1] / 1024:.0f} MiB after "
              f"{late[0]} ({growth:.1f} KiB per asset)")  # fmt: skip


if __name__ == "__main__":
    main()
