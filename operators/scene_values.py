"""The panel's properties (``scene.nerf_dataset``, ``panels.properties``) read into the typed values the CLI's flags
give: the dataset's settings, the scene source, the output folder, the job a Where choice asks for and the
collection a folder or list of assets is. Each property is named and read by its family's one description
(``core.options``), so a value the panel holds means what the same flag means.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from ..app.dataset import Source
from ..cloud.actions import SubmitOptions, submission
from ..cloud.engines import ENGINES
from ..cloud.location import parse_location
from ..cloud.places import BucketJob, FolderJob
from ..cloud.s3 import S3Options
from ..core.errors import UserError
from ..core.options import build, fields_of, kind_of, label_of, meta_of, panel_name, switch_of
from ..core.settings import SETTING_FIELDS, Settings, choice_ids
from ..exporters import FORMATS

ADDON = __package__.rpartition(".")[0]
"""The add-on's own package name (``nerf_dataset``, or ``bl_ext.<repo>.nerf_dataset`` as an extension)."""
LOCAL = "LOCAL"
"""The Where item that renders here, in this Blender (no engine: the panel's own render)."""
OBJECT, ASSETS = "OBJECT", "ASSETS"
"""The two kinds of target: one object of the scene, or a folder or list of assets."""


def where_item(engine) -> str:
    """The Where item of an engine (saved in .blend files: ``aws-batch`` is ``AWS_BATCH``)."""
    return engine.name.upper().replace("-", "_")


def panel_engines() -> dict:
    """The engines the panel offers under Where, by item."""
    return {where_item(e): e for e in ENGINES.values() if e.panel}


def values_from_props(props, cls) -> dict:
    """The values of ``cls``' options the panel holds (one left unset: absent, as a flag left out)."""
    values = {}
    for name in fields_of(cls):
        meta = meta_of(cls, name)
        if meta.panel == "none" or meta.part is not None:
            continue
        prop, switch = panel_name(cls, name), switch_of(cls, name)
        value = getattr(props, prop)
        if switch and not getattr(props, switch):
            continue
        if kind_of(cls, name) == "str":
            value = value.strip() if isinstance(value, str) else value
            if value in ("", meta.unset):
                continue
        values[name] = value
    return values


def preferences(context):
    addon = context.preferences.addons.get(ADDON)
    return addon.preferences if addon else None


def chosen_formats(props, context) -> tuple[str, ...]:
    chosen = set(props.formats)
    if not chosen:
        prefs = preferences(context)
        chosen = set(prefs.default_formats) if prefs else set(SETTING_FIELDS["formats"].default)
    return tuple(f for f in FORMATS if f in chosen)


def settings_from_props(props, context) -> Settings:
    """The same ``Settings`` the CLI builds from its flags (unchecked: the pipeline checks them)."""
    values = {}
    for name in SETTING_FIELDS:
        meta, kind, switch = meta_of(Settings, name), kind_of(Settings, name), switch_of(Settings, name)
        value = getattr(props, name)
        if switch and not getattr(props, switch):
            values[name] = None
        elif kind == "list":
            values[name] = tuple(x for x in choice_ids(name, FORMATS) if str(x) in value)
        elif kind == "size":
            values[name] = tuple(value)
        elif meta.panel == "camera":
            values[name] = value.name if value else None
        elif meta.panel == "file":
            values[name] = bpy.path.abspath(value) if value else None
        elif value == meta.unset:
            values[name] = None
        else:
            values[name] = value
    values["formats"] = chosen_formats(props, context)
    return Settings(**values)


def source_from_props(props) -> Source:
    return Source(object=props.target.name if props.target else None)


def output_dir(props, context) -> str:
    """The output folder as an absolute path; ``//`` is relative to the saved .blend."""
    prefs = preferences(context)
    raw = props.output_dir or (prefs.default_output_dir if prefs else "//nerf_dataset")
    if raw.startswith("//") and not bpy.data.filepath:
        raise UserError("Save the .blend first, or choose an absolute output folder (// means next to the .blend)")
    return bpy.path.abspath(raw)


def emit_prop(engine) -> str | None:
    """The panel's folder for what an engine that only emits writes (``k8s_emit_dir``), or None."""
    if not engine.emits or engine.submits or engine.options is None:
        return None
    return f"{engine.options.PANEL_PREFIX}emit_dir"


def emit_folder(props, engine) -> str | None:
    """The Emit Folder of an engine that only emits (Kubernetes), when one is chosen."""
    prop = emit_prop(engine)
    value = getattr(props, prop) if prop else ""
    return bpy.path.abspath(value) if value else None


def submission_from_props(props, out_dir, retries: int):
    """The job the Where choice asks for (``out_dir()``: the Output folder, asked only by a job that goes there),
    checked as ``cli.py submit`` checks its flags, and refused in one sentence naming the panel's labels before
    any planning. Nothing here reaches the network: the bucket is checked when the job is handed over."""
    engine = panel_engines()[props.where]
    options = build(engine.options, values_from_props(props, engine.options), engine.label, label_of)
    reach = S3Options(**values_from_props(props, S3Options))
    if engine.folder_job(options):
        place = FolderJob(Path(out_dir()).absolute())  # a folder, whatever its name looks like
    else:
        bucket, prefix = props.s3_bucket.strip(), props.s3_prefix.strip()
        if not bucket or not prefix:
            raise UserError(f"{engine.label} takes the job from S3: give a Bucket and a Prefix")
        place = BucketJob(parse_location(f"s3://{bucket}/{prefix}"), reach)
    emit = emit_folder(props, engine)
    if place.kind != "folder" and emit_prop(engine) and not emit:
        raise UserError(f"{engine.label} with a bucket needs an Emit Folder for the manifest")
    if place.kind != "folder":
        import importlib.util

        if importlib.util.find_spec("boto3") is None:
            raise UserError("a job in S3 needs boto3, which this Blender's Python lacks (the extension brings it)")
    asked = SubmitOptions(backend=engine.name, shards=props.shards, emit=emit)
    return submission(place, asked, options, props.overwrite, retries, check_existing=False)


def store_job(props, sub) -> None:
    """Remember the submitted job in the scene (saved with the .blend): where it is and how to reach it."""
    props.job_location = str(sub.place)
    props.job_backend = sub.engine.name
    reach = sub.place.reach
    for name in ("endpoint_url", "region", "profile"):
        setattr(props, f"job_{name}", (getattr(reach, name) if reach else None) or "")


def forget_job(props) -> None:
    for name in ("job_location", "job_backend", "job_endpoint_url", "job_region", "job_profile"):
        setattr(props, name, "")


def job_of(props):
    """The place of the scene's job (reached as the scene recorded), or None when it follows none."""
    from ..cloud.places import job_place

    if not props.job_location:
        return None
    reach = S3Options(props.job_endpoint_url or None, props.job_region or None, props.job_profile or None)
    return job_place(props.job_location, reach)


def engine_name(props) -> str:
    engine = ENGINES.get(props.job_backend)
    return engine.label if engine is not None else props.job_backend


def download_dir(place, out_dir) -> Path:
    """A job in a bucket downloads into the Output folder (``out_dir()``); a job folder is finalised in place."""
    return Path(place.location) if place.kind == "folder" else Path(out_dir())
