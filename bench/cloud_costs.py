"""Issue 12: what a job in S3 costs beside the same job in a folder, against moto on loopback.

1. Transfer throughput through ``cloud.s3.S3Store`` (boto3's transfer manager): 200 view-sized files
   (100 KiB) uploaded and downloaded as the worker and ``collect`` do (parallel), and one 64 MiB file
   (multipart), in MiB/s and files/s.
2. Per-shard overhead: ``cli.py worker`` of a 100-view 200x200 shard from a job in S3 (download the job,
   render, upload each view and its record) beside the same worker on the same job in a folder; and the
   fixed cost when every view is already done (download, list the records, nothing to render).
3. ``collect``: from S3 (download every view, then write) beside from a folder.

Loopback moto is not S3: its figures bound our own overhead (requests, threads, hashing), not the network.

    .venv/bin/python bench/cloud_costs.py [--reps 2] [--samples 16] [--resolution 200x200]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from common import CLI, PY, ROOT, VIEW_COUNTS, machine, options, timed

sys.path.insert(0, str(ROOT / "tests"))
from moto_aws import BUCKET, DEFINITION, QUEUE, MotoAws  # noqa: E402

WORK = ROOT / "out" / "bench" / "cloud"


def nerf_dataset():
    import importlib.util

    if "nerf_dataset" not in sys.modules:
        spec = importlib.util.spec_from_file_location("nerf_dataset", ROOT / "__init__.py",
                                                      submodule_search_locations=[str(ROOT)])  # fmt: skip
        module = importlib.util.module_from_spec(spec)
        sys.modules["nerf_dataset"] = module
        spec.loader.exec_module(module)
    return sys.modules["nerf_dataset"]


def transfers(aws: MotoAws) -> dict:
    nerf_dataset()
    from nerf_dataset.cloud.location import S3Url
    from nerf_dataset.cloud.s3 import CONCURRENCY, S3Options, S3Store

    os.environ.update(aws.env)
    store = S3Store(S3Url(BUCKET, "bench/transfers"), S3Options(aws.url))
    src, dst = WORK / "files", WORK / "downloaded"
    shutil.rmtree(src, ignore_errors=True), shutil.rmtree(dst, ignore_errors=True)
    src.mkdir(parents=True)
    small = [src / f"r_{i}.png" for i in range(200)]
    for p in small:
        p.write_bytes(os.urandom(100 << 10))
    big = src / "scene.blend"
    big.write_bytes(os.urandom(64 << 20))
    result = {}
    with ThreadPoolExecutor(CONCURRENCY // 2) as pool:  # as the worker's ViewUploader
        t = time.perf_counter()
        list(pool.map(lambda p: store.upload(p, p.name), small))
        result["upload_small_s"] = time.perf_counter() - t
    with ThreadPoolExecutor(CONCURRENCY) as pool:  # as collect's download_views
        t = time.perf_counter()
        list(pool.map(lambda p: store.download(p.name, dst / p.name), small))
        result["download_small_s"] = time.perf_counter() - t
    t = time.perf_counter()
    store.upload(big, big.name)
    result["upload_big_s"] = time.perf_counter() - t
    t = time.perf_counter()
    store.download(big.name, dst / big.name)
    result["download_big_s"] = time.perf_counter() - t
    assert all((dst / p.name).read_bytes() == p.read_bytes() for p in [*small, big])
    return result


def timed_cpu(cmd: list[str], cpu: list) -> float:
    """Wall seconds of ``cmd``; its CPU seconds (user + system) go to ``cpu``: the worker's own work,
    apart from moto's, which shares this machine's cores but would not on AWS."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def submit(job: str, backend_args: list[str], args, env) -> None:
    cmd = [PY, CLI, "submit", "--job", job, "--shards", "1", "--overwrite", *backend_args, "--demo", *VIEW_COUNTS]
    cmd += ["--resolution", args.resolution, "--samples", str(args.samples), "--transparent", "--seed", "1"]
    import subprocess

    subprocess.run(cmd, check=True, capture_output=True, env=env)


def shards(aws: MotoAws, args) -> dict:
    os.environ.update(aws.env)  # every process below reaches moto with the test credentials
    env = dict(os.environ)
    s3_job, folder_job = f"s3://{BUCKET}/bench/job", WORK / "job"
    rows = {k: [] for k in ("s3_render", "s3_fixed", "folder_render", "folder_fixed", "s3_collect", "folder_collect",
                            "s3_render_cpu", "folder_render_cpu")}  # fmt: skip
    for _ in range(args.reps):
        shutil.rmtree(folder_job, ignore_errors=True)
        submit(str(folder_job), ["--backend", "slurm", "--emit"], args, env)
        worker = [PY, CLI, "worker", "--job", str(folder_job), "--shard", "0/1"]
        rows["folder_render"].append(timed_cpu(worker, rows["folder_render_cpu"]))
        rows["folder_fixed"].append(timed(worker))
        rows["folder_collect"].append(timed([PY, CLI, "collect", "--job", str(folder_job), "--out", str(WORK / "a"),
                                             "--overwrite"]))  # fmt: skip
        aws_args = ["--backend", "aws-batch", "--job-queue", QUEUE, "--job-definition", DEFINITION,
                    "--endpoint-url", aws.url]  # fmt: skip
        submit(s3_job, aws_args, args, env)
        worker = [PY, CLI, "worker", "--job", s3_job, "--shard", "0/1", "--endpoint-url", aws.url]
        rows["s3_render"].append(timed_cpu(worker, rows["s3_render_cpu"]))
        rows["s3_fixed"].append(timed(worker))
        rows["s3_collect"].append(timed([PY, CLI, "collect", "--job", s3_job, "--endpoint-url", aws.url, "--out",
                                         str(WORK / "b"), "--overwrite"]))  # fmt: skip
    return {k: statistics.median(v) for k, v in rows.items()}


def main() -> None:
    args = options(reps=2)
    WORK.mkdir(parents=True, exist_ok=True)
    aws = MotoAws()
    try:
        t = transfers(aws)
        s = shards(aws, args)
    finally:
        aws.stop()
    mib = 200 * 100 / 1024
    print(f"## Jobs in S3 (moto on loopback; {args.resolution}, {args.samples} spp, 100 views; {machine()})")
    print(f"- upload 200 x 100 KiB: {t['upload_small_s']:.2f} s = {mib / t['upload_small_s']:.1f} MiB/s, "
          f"{200 / t['upload_small_s']:.0f} files/s")  # fmt: skip
    print(f"- download 200 x 100 KiB: {t['download_small_s']:.2f} s = {mib / t['download_small_s']:.1f} MiB/s, "
          f"{200 / t['download_small_s']:.0f} files/s")  # fmt: skip
    up, down = 64 / t["upload_big_s"], 64 / t["download_big_s"]
    print(f"- upload 64 MiB (multipart): {up:.1f} MiB/s; download: {down:.1f} MiB/s")
    render = s["folder_render"] - s["folder_fixed"]
    extra = s["s3_render"] - s["folder_render"]
    print(f"- worker, 100-view shard: folder {s['folder_render']:.2f} s, S3 {s['s3_render']:.2f} s "
          f"(+{extra:.2f} s = {extra / render:.1%} of the render)")  # fmt: skip
    cpu = s["s3_render_cpu"] - s["folder_render_cpu"]
    print(f"  the worker's own CPU time: folder {s['folder_render_cpu']:.1f} s, S3 {s['s3_render_cpu']:.1f} s "
          f"(+{cpu:.1f} s = {cpu / s['folder_render_cpu']:.1%})")  # fmt: skip
    print(f"- fixed cost per shard (all views done): folder {s['folder_fixed']:.2f} s, S3 {s['s3_fixed']:.2f} s")
    print(f"- collect: folder {s['folder_collect']:.2f} s, S3 {s['s3_collect']:.2f} s (download included)")


if __name__ == "__main__":
    main()
