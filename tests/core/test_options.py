"""Options described once (core/options.py): every family's flags, panel properties, job records and refusals
come from its descriptions, so they cannot drift apart. No Blender here: the panel's names are derived as
panels/properties.py derives them."""

from __future__ import annotations

import json

import pytest

from nerf_dataset.app.dataset import RunOptions, Source
from nerf_dataset.cloud.actions import JobLocation, SubmitOptions
from nerf_dataset.cloud.engines import ENGINES
from nerf_dataset.cloud.s3 import S3Options
from nerf_dataset.core.collection import AssetOptions, CollectionOptions
from nerf_dataset.core.options import (
    FAMILIES,
    REQUIRED,
    OptionError,
    default_of,
    fields_of,
    flag_of,
    label_of,
    meta_of,
    panel_name,
    value_from_text,
)
from nerf_dataset.core.settings import Settings

ENGINE_FAMILIES = [e.options for e in ENGINES.values() if e.options is not None]
# The panel's properties of the engines and the bucket as .blend files saved them: their names never change.
SAVED_PANEL_NAMES = {
    "slurm_partition", "slurm_time", "batch_job_queue", "batch_job_definition", "batch_attempts", "k8s_image",
    "k8s_namespace", "k8s_pvc", "k8s_secret", "s3_region", "s3_endpoint_url", "s3_profile",
}  # fmt: skip


def test_every_family_is_registered_and_every_flag_means_one_thing():
    families = [Settings, Source, RunOptions, AssetOptions, CollectionOptions, S3Options, JobLocation, SubmitOptions]
    assert set(families + ENGINE_FAMILIES) <= set(FAMILIES)
    by_flag: dict[str, set[str]] = {}
    for cls in FAMILIES:
        for name in fields_of(cls):
            if meta_of(cls, name).part is None:  # a compound flag (--elevation MIN,MAX) sets its parts
                by_flag.setdefault(meta_of(cls, name).flag, set()).add(name)
    assert {flag: names for flag, names in by_flag.items() if len(names) > 1} == {}  # one flag, one field name


def test_the_panels_engine_and_bucket_properties_keep_their_saved_names():
    offered = [e for e in ENGINES.values() if e.panel]
    names = {panel_name(cls, n) for cls in [*(e.options for e in offered), S3Options] for n in fields_of(cls)
             if meta_of(cls, n).panel != "none"}  # fmt: skip
    assert names == SAVED_PANEL_NAMES


@pytest.mark.parametrize("cls", [S3Options, *ENGINE_FAMILIES, AssetOptions, CollectionOptions, SubmitOptions])
def test_a_family_round_trips_through_its_record(cls):
    values = {n: "x/y:1" for n in fields_of(cls) if default_of(cls, n) is REQUIRED}
    if cls.__name__ == "BatchOptions":
        values = {"job_queue": "render-queue", "job_definition": "nerf-worker:3"}
    made = cls(**values)
    assert cls.from_record(json.loads(json.dumps(made.to_record()))) == made


def test_a_refusal_names_the_option_by_flag_on_the_command_line_and_by_label_in_the_panel():
    with pytest.raises(OptionError) as info:
        ENGINES["aws-batch"].options(job_queue="q q", job_definition="d")
    assert str(info.value) == "--job-queue 'q q' is not an AWS Batch job queue"
    assert info.value.worded(label_of) == "Job Queue 'q q' is not an AWS Batch job queue"
    assert flag_of("import_path") == "--import" and label_of("out") == "Output Folder"


@pytest.mark.parametrize(
    ("cls", "name", "text", "value"),
    [
        (Settings, "passes", "Mask,depth", ("depth", "mask")),  # one canonical order and spelling
        (Settings, "formats", "ngp,nerf", ("ngp", "nerf")),  # the user's order: the first holds the images
        (Settings, "resolution", "64X48", (64, 48)),
        (RunOptions, "shard", "1/4", (1, 4)),
        (AssetOptions, "up_axis", "-y", "-Y"),
        (ENGINES["slurm"].options, "worker_command", "'/opt/b b/blender' -b", ("/opt/b b/blender", "-b")),
        (ENGINES["gcp-batch"].options, "secret_env", ["A=projects/p/s"], {"A": "projects/p/s"}),
        (SubmitOptions, "emit", "", ""),  # --emit alone: the job folder's own place
    ],
)
def test_text_as_typed_becomes_the_option_value(cls, name, text, value):
    assert value_from_text(cls, name, text) == value


@pytest.mark.parametrize(
    ("cls", "name", "text", "words"),
    [
        (Settings, "samples", "x", "--samples takes a whole number, not 'x'"),
        (Settings, "resolution", "12", "--resolution must look like 800x600"),
        (RunOptions, "shard", "4/4", "--shard 4/4: I must be in 0..N-1"),
        (ENGINES["slurm"].options, "worker_command", "'unbalanced", "is not a command line"),
        (ENGINES["slurm"].options, "worker_command", " ", "--worker-command is empty"),
        (ENGINES["gcp-batch"].options, "secret_env", ["A=x", "A=y"], "--secret-env gives 'A' twice"),
        (Settings, "rig", " ", "--rig is empty"),
    ],
)
def test_text_that_is_no_value_is_one_sentence_naming_the_flag(cls, name, text, words):
    with pytest.raises(OptionError) as info:
        value_from_text(cls, name, text)
    assert words in str(info.value)
