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
