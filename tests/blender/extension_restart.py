"""Run in a fresh bpy process after extension_session.py, on the same user folder: the user's next Blender
session. Reports as JSON where boto3 and its dependencies are imported from, and that they work offline.

python extension_restart.py WORKDIR

Blender appends the extensions' site-packages to sys.path when the first wheels are installed, but on
startup it puts that folder ahead of its own site-packages, so this is the session that shows which copy
an extension really gets: the test venv has boto3 too (as stock Blender does not).
"""

import json
import os
import site
import sys
from pathlib import Path

import bpy

work = Path(sys.argv[1])
bpy.ops.wm.read_userpref()  # Blender loads them on startup; the bpy module starts from the factory settings
report = {"enabled": "bl_ext.user_default.nerf_dataset" in bpy.context.preferences.addons}
ours = [p.resolve() for p in Path(os.environ["BLENDER_USER_RESOURCES"]).rglob("site-packages")]
report["extension_site_packages"] = [str(p) for p in ours]
resolved = [Path(p).resolve() for p in sys.path]
report["ahead_of_site_packages"] = [
    ours[0] in resolved and resolved.index(ours[0]) < resolved.index(Path(p).resolve()) for p in site.getsitepackages()
]

os.environ.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
import boto3  # noqa: E402
import botocore  # noqa: E402
import dateutil  # noqa: E402
import jmespath  # noqa: E402
import s3transfer  # noqa: E402
import six  # noqa: E402
import urllib3  # noqa: E402


def origin(mod):
    path = Path(mod.__file__).resolve()
    return next((str(p) for p in ours if path.is_relative_to(p)), str(path))


report["imported"] = {
    m.__name__: {"version": m.__version__, "from": origin(m)}
    for m in (boto3, botocore, s3transfer, jmespath, dateutil, six, urllib3)
}
# botocore's service models load and requests are signed, offline, with Blender's own urllib3.
aws = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
s3, batch = aws.client("s3"), aws.client("batch")
url = s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "key"}, ExpiresIn=60)
report["clients"] = [s3.meta.service_model.service_name, batch.meta.service_model.service_name]
report["presigned"] = url.split("?")[0]

(work / "restart.json").write_text(json.dumps(report, indent=1))
