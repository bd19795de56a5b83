"""A collection's folder and its batch file, read as hostile input: no Blender is needed to refuse a folder or a
batch file, so these run as plain Python (the CLI's refusals come before Blender loads)."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from nerf_dataset.app.collection_run import Batch, check_out, load_batch, save_batch
from nerf_dataset.app.dataset import RunOptions
from nerf_dataset.core.collection import Asset, AssetOptions
from nerf_dataset.core.errors import UserError
from nerf_dataset.core.settings import Settings

SMALL = ["--train", "1", "--val", "0", "--test", "1", "--resolution", "32x32", "--samples", "2"]
OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n"


def batch_in(out, **settings) -> Batch:
    batch = Batch(Settings(**settings), AssetOptions(), (Asset("m0", "/models/m0.obj"),), str(out / "cache"), 512)
    save_batch(out, batch)
    return batch


def test_a_damaged_batch_file_is_one_sentence_and_an_older_one_says_so(tmp_path):
    out = tmp_path / "out"
    good = batch_in(out).to_json()
    older = {k: good[k] for k in ("settings", "normalize", "up_axis", "forward_axis", "lighting")}
    path = out / ".nerf_collection" / "batch.json"
    for damaged, words in [
        ({**good, "settings": []}, "is damaged"),
        ({**good, "settings": {"formats": "nerf"}}, "is damaged"),
        ({**good, "settings": {**good["settings"], "resolution": [1, 2, 3]}}, "is damaged"),
        ({**good, "max_download_mb": -5}, "is damaged"),
        ({**good, "cache": "relative"}, "is damaged"),
        ({**good, "assets": [["../x", "/a.obj", None]]}, "is damaged"),
        ({**good, "assets": [["a", "relative.obj", None]]}, "is damaged"),
        ({**good, "extra": 1}, "is damaged"),
        (older, "older version"),
    ]:
        path.write_text(json.dumps(damaged))
        with pytest.raises(UserError, match=words):
            load_batch(out)
    r = run_cli("collection-worker", "--out", out, "--resume")
    assert r.returncode == 2 and "older version" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert "holds no started collection" in run_cli("collection-worker", "--out", tmp_path / "none").stderr


def test_a_batch_of_the_previous_version_resumes_with_the_same_settings_only(tmp_path):
    out = tmp_path / "out"
    good = batch_in(out, samples=2).to_json()
    (out / ".nerf_collection" / "batch.json").write_text(json.dumps(
        {k: good[k] for k in ("settings", "normalize", "up_axis", "forward_axis", "lighting")}))  # fmt: skip
    (out / ".nerf_collection" / "records").mkdir()  # started
    resume = RunOptions(out=out, resume=True)
    check_out(out, Batch(Settings(samples=2), AssetOptions(), (), "", 512), resume)
    with pytest.raises(UserError, match="made with --samples 2, not 3"):
        check_out(out, Batch(Settings(samples=3), AssetOptions(), (), "", 512), resume)


@pytest.mark.parametrize("link", [".nerf_collection", "m0"])
def test_a_link_in_a_collection_folder_is_never_followed(link, tmp_path):
    """A link could aim the records' clearing or an asset's dataset at anything: it is the user's, and refused."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "m0.obj").write_text(OBJ)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / link).symlink_to(victim)
    r = run_cli("--import-dir", tmp_path / "tree", "--out", tmp_path / "out", *SMALL, "--overwrite")
    assert r.returncode == 2 and "did not write" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]


def test_a_refused_collection_leaves_nothing_of_ours_in_a_folder(tmp_path):
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "m0.obj").write_text(OBJ)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    r = run_cli("--import-dir", tmp_path / "tree", "--out", mine, *SMALL)
    assert r.returncode == 2 and "did not write" in r.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    r = run_cli("--import-dir", tmp_path / "tree", "--out", tmp_path / "new", *SMALL, "--asset-shard", "0/2",
                "--overwrite")  # fmt: skip
    assert r.returncode == 2 and "--overwrite redoes the whole batch" in r.stderr and not (tmp_path / "new").exists()
