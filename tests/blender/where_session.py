"""Run in a fresh bpy process: install the extension zip, enable it, report its Where choice and job operators.

python where_session.py ZIP WORKDIR
"""

import json
import sys
from pathlib import Path

import bpy

zip_path, work = sys.argv[1], Path(sys.argv[2])
result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
module = "bl_ext.user_default.nerf_dataset"
settings = bpy.types.Scene.bl_rna.properties["nerf_dataset"].fixed_type.properties
names = [p.identifier for p in settings]
CREDENTIAL_WORDS = ("access_key", "secret_key", "password", "token")
report = {
    "enabled": module in bpy.context.preferences.addons and sorted(result) == ["FINISHED"],
    "where": [item.identifier for item in settings["where"].enum_items],
    "operators": {
        name: hasattr(bpy.types, f"NERF_DATASET_OT_{name}")
        for name in ("job_refresh", "job_retry_missing", "job_download", "job_cancel", "job_forget")
    },
    "properties": names,
    # Credentials come from the AWS chain only: no property may hold one.
    "no_secret_property": not [n for n in names if any(w in n for w in CREDENTIAL_WORDS)],
}
(work / "where.json").write_text(json.dumps(report, indent=1))

if len(sys.argv) > 3:  # the AWS Batch flow, as a user of the installed extension runs it
    import os
    import subprocess
    from importlib import import_module

    cli, endpoint, bucket, queue, definition, prefix = sys.argv[3:9]
    demo = import_module(f"{module}.blender_io.demo")
    jobs = import_module(f"{module}.operators.following")
    scene = demo.build_demo_scene()
    props = scene.nerf_dataset
    props.use_train, props.use_val, props.use_test = True, True, True
    props.train, props.val, props.test = 5, 1, 2
    props.use_resolution, props.resolution = True, (32, 32)
    props.use_samples, props.samples = True, 4
    props.transparent, props.formats = True, {"nerf"}
    props.output_dir = str(work / "dataset")
    props.where, props.shards = "AWS_BATCH", 2
    props.s3_bucket, props.s3_prefix, props.s3_endpoint_url = bucket, prefix, endpoint
    props.batch_job_queue, props.batch_job_definition, props.batch_attempts = queue, definition, 2
    report["submitted"] = sorted(bpy.ops.nerf_dataset.render())
    report["job_location"] = props.job_location
    bpy.ops.nerf_dataset.job_refresh()
    status = jobs.STATUS[props.job_location].status
    report["before_children"] = [status.done, status.total]
    boto3 = import_module("boto3")
    s3 = boto3.client("s3", endpoint_url=endpoint)
    [key] = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/.nerf_dataset/backend/aws-batch/")["Contents"]
    ]
    run = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    [array] = boto3.client("batch", endpoint_url=endpoint).describe_jobs(jobs=[run["id"]])["jobs"]
    report["array_size"] = array["arrayProperties"]["size"]
    for index in range(array["arrayProperties"]["size"]):  # the test's children: AWS Batch's, run here
        env = {**os.environ, "AWS_BATCH_JOB_ARRAY_INDEX": str(index)}
        r = subprocess.run([sys.executable, cli, *array["container"]["command"]], env=env, capture_output=True)
        assert r.returncode == 0, r.stderr[-2000:]
    bpy.ops.nerf_dataset.job_refresh()
    status = jobs.STATUS[props.job_location].status
    report["after_children"] = [status.done, status.total]
    report["downloaded"] = sorted(bpy.ops.nerf_dataset.job_download())
    bpy.ops.wm.save_as_mainfile(filepath=str(work / "saved.blend"), compress=True)
    (work / "where.json").write_text(json.dumps(report, indent=1))
