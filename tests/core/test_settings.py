"""Each setting is described once (``core.settings``): the CLI, the saved plan and the messages follow."""

from __future__ import annotations

import json

import pytest

from nerf_dataset.commands.render import build_parser, settings_from_args
from nerf_dataset.core.errors import UserError
from nerf_dataset.core.settings import SETTING_FIELDS, SettingError, Settings, label_of, meta_of

EVERY_SETTING_CHANGED = Settings(
    formats=("colmap", "nerf"),
    train=3,
    val=2,
    test=1,
    rig="rings",
    radius=2.5,
    elevation_min=-10.0,
    elevation_max=60.0,
    rings=4,
    turns=2.5,
    test_elevation=12.0,
    resolution=(64, 48),
    samples=8,
    engine="BLENDER_EEVEE",
    transparent=True,
    seed=7,
    lens=35.0,
    points=50,
    passes=("depth", "normal"),
    camera_path_from="Cam",
    downscales=(2, 4),
)
ARGV = (
    "--out d --format colmap,nerf --train 3 --val 2 --test 1 --rig rings --radius 2.5 --elevation=-10,60 "
    "--rings 4 --turns 2.5 --test-elevation 12 --resolution 64x48 --samples 8 --engine blender_eevee "
    "--transparent --seed 7 --lens 35 --points 50 --passes normal,depth --camera-path-from Cam --downscales 4,2"
).split()


def test_every_setting_has_a_flag_in_the_cli_help():
    text = " ".join(build_parser().format_help().split())
    assert all(meta_of(name).flag in text for name in SETTING_FIELDS)
    assert "nerf, ngp, nerfstudio, colmap" in text  # the formats' names come from their records


# The dataset rig's own settings, which the others' rigs refuse: changed in a test of their own.
DATASET_RIG = {"cameras_from", "cameras_transform", "holdout"}


def test_the_cli_sets_every_setting():
    assert EVERY_SETTING_CHANGED != Settings()
    assert all(
        getattr(EVERY_SETTING_CHANGED, n) != f.default for n, f in SETTING_FIELDS.items() if n not in DATASET_RIG
    )
    assert settings_from_args(build_parser().parse_args(ARGV)) == EVERY_SETTING_CHANGED


def test_the_cli_sets_the_dataset_rigs_settings_with_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = "--out d --cameras-from src --cameras-transform t.json --holdout 8".split()
    got = settings_from_args(build_parser().parse_args(argv))
    want = Settings(rig="dataset", cameras_from=str(tmp_path / "src"), cameras_transform=str(tmp_path / "t.json"))
    assert got == Settings(**{**want.to_dict(), "holdout": 8})
    assert all(getattr(got, n) != SETTING_FIELDS[n].default for n in DATASET_RIG)
    with pytest.raises(SettingError, match="--cameras-from belongs to --rig dataset, not --rig sphere"):
        settings_from_args(build_parser().parse_args([*argv, "--rig", "sphere"]))


def test_the_saved_plan_round_trips_every_setting():
    text = json.dumps(EVERY_SETTING_CHANGED.to_dict())
    assert Settings.from_dict(json.loads(text)) == EVERY_SETTING_CHANGED


def test_defaults_are_the_clis_defaults():
    assert settings_from_args(build_parser().parse_args(["--out", "d"])) == Settings()


@pytest.mark.parametrize(
    "argv,flag,label",
    [
        (["--train", "-3"], "--train", "Train"),
        (["--lens", "nan"], "--lens", "Focal Length"),
        (["--radius", "0"], "--radius", "Radius"),
        (["--elevation", "80,10"], "--elevation", "Min Elevation"),
        (["--format", "nerf,splat"], "--format", "Formats"),
        (["--resolution", "0x10"], "--resolution", "Resolution"),
        (["--passes", "depth,depth"], "--passes", "Passes"),
    ],
)
def test_a_bad_value_names_the_setting_as_the_caller_knows_it(argv, flag, label):
    with pytest.raises(SettingError) as failure:
        settings_from_args(build_parser().parse_args(["--out", "d", *argv]))
    assert str(failure.value).startswith(flag)
    assert failure.value.worded(label_of).startswith(label)


def test_unknown_choices_say_what_there_is():
    with pytest.raises(UserError, match=r"unknown rig 'cube' \(choose from hemisphere, sphere"):
        settings_from_args(build_parser().parse_args(["--out", "d", "--rig", "cube"]))


def test_settings_handed_over_as_values_come_back_the_same():
    """What a stream's launch and a collection's batch file hand over (the settings' JSON) gives them back."""
    from nerf_dataset.core.settings import settings_from_values
    from nerf_dataset.exporters import FORMATS

    dataset = Settings(rig="dataset", cameras_from="/data/src", cameras_transform="/data/t.json", holdout=8)
    for s in (EVERY_SETTING_CHANGED, Settings(), dataset, Settings(elevation_min=-20.5, elevation_max=0.1, seed=3)):
        assert settings_from_values(json.loads(json.dumps(s.to_dict())), FORMATS) == s
