"""The Where choice with its engine's settings, and the box of the job a submission made."""

from __future__ import annotations

from ..cloud.s3 import S3Options
from ..core.errors import UserError
from ..core.options import build, fields_of, meta_of, panel_name
from ..operators import following as jobs
from ..operators.jobs import (
    NERF_DATASET_OT_job_cancel,
    NERF_DATASET_OT_job_download,
    NERF_DATASET_OT_job_forget,
    NERF_DATASET_OT_job_refresh,
    NERF_DATASET_OT_job_retry_missing,
)
from ..operators.scene_values import LOCAL, emit_prop, engine_name, panel_engines, values_from_props

MAX_FAILED_SHOWN = 5


def panel_fields(cls) -> list[str]:
    """The properties of a family's options the panel offers, in the family's order."""
    return [panel_name(cls, n) for n in fields_of(cls) if meta_of(cls, n).panel != "none"]


def engine_rows(engine) -> list[tuple[str, bool]]:
    """(property, whether it is about the bucket) for each setting of ``engine`` the panel shows."""
    rows = [(name, False) for name in panel_fields(engine.options)]
    if "s3" in engine.places:
        rows += [(name, True) for name in ("s3_bucket", "s3_prefix", *panel_fields(S3Options))]
    return rows + ([(emit_prop(engine), False)] if emit_prop(engine) else [])


def _folder_job(engine, props) -> bool:
    try:
        return engine.folder_job(build(engine.options, values_from_props(props, engine.options), engine.label))
    except UserError:
        return "s3" not in engine.places


def draw_where(layout, props) -> None:
    layout.prop(props, "where")
    if props.where == LOCAL:
        return
    engine = panel_engines()[props.where]
    folder = _folder_job(engine, props)
    layout.prop(props, "shards")
    for name, bucket in engine_rows(engine):
        row = layout.row()
        row.active = not (bucket and folder)  # a job in a folder (a Kubernetes volume) needs no bucket
        row.prop(props, name)
    if folder:
        layout.label(text="The Output folder is the job folder", icon="INFO")


def draw_submission(layout, scene) -> None:
    """A submission under way, or the sentence it failed with."""
    task = jobs.submitting(scene)
    if task is None:
        return
    if task.running:
        layout.label(text=task.text(), icon="SORTTIME")
    elif task.error is not None:
        layout.label(text=task.error, icon="ERROR")


def job_lines(props) -> list[tuple[str, str]]:
    """What the job box says, as (text, icon); the icon ``PROGRESS`` stands for the progress bar."""
    location = props.job_location
    lines = [(f"{engine_name(props)}: {location}", "NETWORK_DRIVE")]
    if props.job_endpoint_url or props.job_region or props.job_profile:  # where Refresh will send its requests
        via = ", ".join(w for w in (props.job_endpoint_url, props.job_region,
                                    props.job_profile and f"profile {props.job_profile}") if w)  # fmt: skip
        lines.append((f"via {via}", "URL"))
    fetched = jobs.STATUS.get(location)
    st = fetched.status if fetched else None
    if st is not None and st.spec.kind == "collection":
        failed = sum(s.failed for s in st.shards)
        lines.append((f"{st.done} / {st.total} assets done, {failed} failed", "PROGRESS"))
        lines += [(f"{i}: {why}", "ERROR") for i, why in st.failures[:MAX_FAILED_SHOWN]]
    elif st is not None:
        lines.append((f"{st.done} / {st.total} views", "PROGRESS"))
        failed = [s for s in st.shards if s.state == "FAILED"]
        lines += [(s.line(st.spec.shards), "ERROR") for s in failed[:MAX_FAILED_SHOWN]]
        if len(failed) > MAX_FAILED_SHOWN:
            lines.append((f"and {len(failed) - MAX_FAILED_SHOWN} more failed tasks (cli.py status)", "ERROR"))
    if fetched is not None and fetched.error is not None:
        lines.append((fetched.error, "ERROR"))
    elif st is None and not jobs.followed(props):
        lines.append(("Refresh to follow the job (a file's job is not asked unbidden)", "INFO"))
    elif st is None:
        lines.append(("Asking for the job's status…", "SORTTIME"))
    action = jobs.ACTIONS.get(location)
    if action is not None:
        if action.running:
            lines.append((action.text(), "SORTTIME"))
        elif action.error is not None:
            lines.append((action.error, "ERROR"))
        elif action.result:
            lines.append((action.result[:1].upper() + action.result[1:], "INFO"))
    return lines


def draw_job(layout, props) -> None:
    box = layout.box()
    col = box.column(align=True)
    st = jobs.STATUS.get(props.job_location)
    for text, icon in job_lines(props):
        if icon == "PROGRESS":
            _progress(col, st.status.done, st.status.total, text)
        else:
            col.label(text=text, icon=icon)
    action = jobs.ACTIONS.get(props.job_location)
    if action is not None and action.running and action.counts[1]:
        _progress(col, *action.counts, action.text())
    row = box.row(align=True)
    row.operator(NERF_DATASET_OT_job_refresh.bl_idname, icon="FILE_REFRESH")
    row.operator(NERF_DATASET_OT_job_retry_missing.bl_idname, icon="RECOVER_LAST")
    box.operator(NERF_DATASET_OT_job_download.bl_idname, icon="IMPORT")
    row = box.row(align=True)
    row.operator(NERF_DATASET_OT_job_cancel.bl_idname, icon="CANCEL")
    row.operator(NERF_DATASET_OT_job_forget.bl_idname, icon="TRASH")


def _progress(layout, done: int, total: int, text: str) -> None:
    if hasattr(layout, "progress"):  # Blender 4.0+
        layout.progress(factor=done / total if total else 0.0, type="BAR", text=text)
    else:
        layout.label(text=text)
