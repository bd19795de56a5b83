"""Issue 23: how a collection job's own costs grow with the number of assets (not one point: 1k, 10k, 100k).

1. ``submit`` (no Blender): a list of N tiny unique .obj models into a folder job (every model hashed and copied
   into the job once), wall time and peak memory of the process.
2. ``status`` against moto's S3 of a job of N assets in N shards, every asset's record in the bucket (as N workers
   leave them): wall time. The job's engine is Google Cloud Batch (emitted), whose tasks ``status`` does not ask
   for: what is measured is the job's own reading (moto's AWS Batch answers ``describe_jobs`` in time that grows
   with the square of an array's children, which no real AWS Batch does, and would hide it).
3. ``collect`` of N finished tiny assets (8x8, one view per split): one real asset rendered once, its dataset copied
   N times into a folder job as its workers would have left it; ``collect --job J --out OUT``: wall time and
   peak memory (it streams: the index is written a record at a time).
4. Throughput of a Zero123-style collection job (12 views at 256x256, Cycles) on this machine: objects per hour
   per core through ``submit --backend local``, against one Blender process per asset.

    .venv/bin/python bench/collection_jobs.py [--sizes 1000,10000,100000] [--throughput 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import CLI, PY, ROOT, machine

sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "blender"))
from collection_assets import l_block, write_obj  # noqa: E402

WORK = ROOT / "out" / "bench" / "collection_jobs"
TINY = ["--train", "1", "--val", "1", "--test", "1", "--resolution", "8x8", "--samples", "1"]
TRIANGLE = "v 0 0 0\nv 1 0 0\nv 0 1 {z}\nf 1 2 3\n"


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """(seconds, peak RSS in MiB of the process, result): the peak as the kernel counted it for this one child
    (``wait4``'s rusage), so earlier children do not count."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    out, err = [], []
    import threading

    readers = [threading.Thread(target=lambda s, b: b.append(s.read()), args=(s, b)) for s, b in
               ((p.stdout, out), (p.stderr, err))]  # fmt: skip
    for t in readers:
        t.start()
    _, status, usage = os.wait4(p.pid, 0)
    for t in readers:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    return (
        seconds,
        usage.ru_maxrss / 1024,
        subprocess.CompletedProcess(cmd, p.returncode, out[0].decode(), err[0].decode()),
    )


def peak_of(cmd: list[str], env: dict | None = None) -> tuple[float, float, subprocess.CompletedProcess]:
    """As ``timed``, the peak measured by GNU time around the command: a child forked from this process (with
    moto loaded) would count this process's pages until its exec."""
    report = WORK / "time.txt"
    seconds, _, r = timed(["/usr/bin/time", "-f", "%M", "-o", str(report), *cmd], env)
    return seconds, int(report.read_text().split()[-1]) / 1024, r


def tiny_list(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(n):
        path = folder / f"m{k:06d}.obj"
        path.write_text(TRIANGLE.format(z=1 + k / n))
        lines.append(f"{path.name} a{k:06d}")
    listing = folder / "list.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def bench_submit(sizes: list[int]) -> list[tuple]:
    rows = []
    for n in sizes:
        listing = tiny_list(WORK / f"models-{n}", n)
        job = WORK / f"job-{n}"
        shutil.rmtree(job, ignore_errors=True)
        cmd = [PY, CLI, "submit", "--backend", "slurm", "--emit", "--job", str(job), "--shards", str(min(n, 1000)),
               "--import-list", str(listing), *TINY]  # fmt: skip
        seconds, peak, r = peak_of(cmd)
        assert r.returncode == 0, r.stderr
        rows.append((n, seconds, peak))
        print(f"submit {n}: {seconds:.2f} s, {peak:.0f} MiB", flush=True)
    return rows


def bench_status(sizes: list[int]) -> list[tuple]:
    import logging

    from moto_aws import BUCKET, MotoAws

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    aws = MotoAws()
    rows = []
    try:
        for n in sizes:
            listing = tiny_list(WORK / f"models-{n}", n)
            url = f"s3://{BUCKET}/status-{n}"
            cmd = [PY, CLI, "submit", "--backend", "gcp-batch", "--emit", str(WORK / "emitted"), "--image",
                   "registry.example/nerf:1", "--job", url, "--shards", str(n), "--endpoint-url", aws.url,
                   "--import-list", str(listing), *TINY]  # fmt: skip
            r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **aws.env})
            assert r.returncode == 0, r.stderr
            from concurrent.futures import ThreadPoolExecutor

            def put(k: int, n: int = n) -> None:
                record = {"id": f"a{k:06d}", "source": "", "status": "done", "reason": "", "views": 3,
                          "normalization": {}, "bounds_min": [], "bounds_max": [], "seconds": 0.1}  # fmt: skip
                key = f"status-{n}/.nerf_collection/records/a{k:06d}/done.json"
                aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"record": record, "files": {}}).encode())

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(put, range(n)))
            seconds, _, r = timed([PY, CLI, "status", "--job", url, "--endpoint-url", aws.url], aws.env)
            assert f"status: {n}/{n} assets done" in r.stdout, r.stdout[-500:] + r.stderr[-2000:]
            rows.append((n, seconds))
            print(f"status {n} shards: {seconds:.2f} s", flush=True)
    finally:
        aws.stop()
    return rows


def bench_collect(sizes: list[int]) -> list[tuple]:
    one = WORK / "one"
    shutil.rmtree(one, ignore_errors=True)
    model = WORK / "one-model" / "m.obj"
    model.parent.mkdir(parents=True, exist_ok=True)
    write_obj(model, *l_block(0))
    r = subprocess.run([PY, CLI, "--import-dir", str(model.parent), "--out", str(one), *TINY, "--transparent"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = []
    for n in sizes:
        listing = tiny_list(WORK / f"models-{n}", n)
        job = WORK / f"collect-job-{n}"
        shutil.rmtree(job, ignore_errors=True)
        cmd = [PY, CLI, "submit", "--backend", "slurm", "--emit", "--job", str(job), "--shards", "1", "--import-list",
               str(listing), *TINY, "--transparent"]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        record = json.loads((one / ".nerf_collection/records/m/record.json").read_text())
        for k in range(n):  # what its workers would have left: the dataset and the record
            asset = f"a{k:06d}"
            shutil.copytree(one / "m", job / asset, copy_function=os.link)
            path = job / ".nerf_collection/records" / asset / "record.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({**record, "id": asset}))
        out = WORK / f"collected-{n}"
        shutil.rmtree(out, ignore_errors=True)
        seconds, peak, r = peak_of([PY, CLI, "collect", "--job", str(job), "--out", str(out)])
        assert r.returncode == 0, r.stderr
        rows.append((n, seconds, peak))
        print(f"collect {n}: {seconds:.2f} s, {peak:.0f} MiB", flush=True)
        shutil.rmtree(job), shutil.rmtree(out)
    return rows


def bench_throughput(n: int) -> tuple[float, float]:
    folder = WORK / "zero123"
    shutil.rmtree(folder, ignore_errors=True)
    paths = []
    for k in range(n):
        v, t = l_block(k % 9)
        paths.append(folder / "tree" / f"m{k:03d}.obj")
        write_obj(paths[-1], v * (1 + 0.01 * k), t)
    views = ["--train", "12", "--val", "0", "--test", "0", "--resolution", "256x256", "--samples", "16",
             "--transparent", "--points", "0"]  # fmt: skip
    start = time.perf_counter()
    r = subprocess.run([PY, CLI, "submit", "--backend", "local", "--job", str(folder / "job"), "--shards", "1",
                        "--import-dir", str(folder / "tree"), *views], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    job = time.perf_counter() - start
    start = time.perf_counter()
    for p in paths:
        listing = folder / f"{p.stem}.txt"
        listing.write_text(f"{p} {p.stem}\n")
        cmd = [PY, CLI, "--import-list", str(listing), "--out", str(folder / "each" / p.stem), *views]
        subprocess.run(cmd, check=True, capture_output=True)
    each = time.perf_counter() - start
    print(f"throughput {n} assets: job {job:.1f} s, one process per asset {each:.1f} s", flush=True)
    return job, each


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--status-sizes", default="1000,10000")
    ap.add_argument("--collect-sizes", default="1000,10000")
    ap.add_argument("--throughput", type=int, default=20)
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    print(machine())
    sizes = [int(s) for s in a.sizes.split(",")]
    submit = bench_submit(sizes)
    status = bench_status([int(s) for s in a.status_sizes.split(",")])
    collect = bench_collect([int(s) for s in a.collect_sizes.split(",")])
    job, each = bench_throughput(a.throughput) if a.throughput else (0.0, 0.0)
    cores = os.cpu_count() or 1
    print("\n| step | assets | wall time | per asset | peak memory |\n|---|---|---|---|---|")
    for n, s, m in submit:
        print(f"| submit (folder job) | {n} | {s:.2f} s | {1000 * s / n:.2f} ms | {m:.0f} MiB |")
    for n, s in status:
        print(f"| status (moto S3, {n} shards) | {n} | {s:.2f} s | {1000 * s / n:.2f} ms | |")
    for n, s, m in collect:
        print(f"| collect (folder job) | {n} | {s:.2f} s | {1000 * s / n:.2f} ms | {m:.0f} MiB |")
    if a.throughput:
        per_hour = lambda t: a.throughput / t * 3600 / cores  # noqa: E731
        print(
            f"\nZero123-style, {a.throughput} assets: job {job:.1f} s = {per_hour(job):.0f} objects/hour/core; one "
            f"process per asset {each:.1f} s = {per_hour(each):.0f} objects/hour/core ({each / job:.2f}x)"
        )


if __name__ == "__main__":
    main()
