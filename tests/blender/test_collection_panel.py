"""Issue 13 in the panel: the Target can be a folder or list of assets, rendered by a background cli.py with the
panel's settings; Resume finishes it."""

from __future__ import annotations

import json

import pytest
from collection_assets import l_block, write_obj

import nerf_dataset


@pytest.fixture
def scene(fresh_bpy, tmp_path):
    nerf_dataset.register()
    from nerf_dataset.blender_io.demo import build_demo_scene

    scene = build_demo_scene()
    props = scene.nerf_dataset
    props.use_train, props.use_val, props.use_test = True, True, True
    props.train, props.val, props.test = 2, 1, 1
    props.use_resolution, props.resolution = True, (32, 32)
    props.use_samples, props.samples = True, 2
    yield scene
    nerf_dataset.unregister()


def test_the_panel_renders_a_folder_of_assets_with_its_settings(scene, fresh_bpy, tmp_path):
    from nerf_dataset.app.collection_run import load_batch
    from nerf_dataset.operators.scene_values import settings_from_props

    for k in range(2):
        v, t = l_block(k)
        write_obj(tmp_path / "tree" / f"m{k}.obj", v, t)
    props = scene.nerf_dataset
    props.target_kind, props.assets_path, props.output_dir = "ASSETS", str(tmp_path / "tree"), str(tmp_path / "out")
    props.normalize, props.up_axis = "unit-sphere", "Y"

    assert fresh_bpy.ops.nerf_dataset.render() == {"FINISHED"}
    batch = load_batch(tmp_path / "out")  # what the background Blender rendered: the panel's own values, typed
    assert batch.settings == settings_from_props(props, fresh_bpy.context)
    assert (batch.options.normalize, batch.options.up_axis, len(batch.assets)) == ("unit-sphere", "Y", 2)
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    assert [(r["id"], r["status"], r["views"], r["normalization"]["mode"]) for r in index] == [
        ("m0", "done", 4, "unit-sphere"),
        ("m1", "done", 4, "unit-sphere"),
    ]
    assert fresh_bpy.ops.nerf_dataset.render(resume=True) == {"FINISHED"}  # nothing left to do
    with pytest.raises(RuntimeError, match="holds a collection: use Resume"):
        fresh_bpy.ops.nerf_dataset.render()
    props.assets_path = ""
    with pytest.raises(RuntimeError, match="Choose the folder or list of assets"):
        fresh_bpy.ops.nerf_dataset.render()


def test_the_progress_line_counts_an_asset_once_it_has_ended(scene, tmp_path):
    from nerf_dataset.core.asset_index import AssetRecord, write_record
    from nerf_dataset.operators.collection import CollectionProcess, count

    task = CollectionProcess(process=None, out=tmp_path, total=2)
    write_record(tmp_path, AssetRecord("a", "/a.obj", "started"))
    assert count(task) == (0, 0)  # still rendering: neither done nor failed
    write_record(tmp_path, AssetRecord("a", "/a.obj", "done"))
    write_record(tmp_path, AssetRecord("b", "/b.obj", "failed", "no faces"))
    task.scanned_at = -1e9
    assert count(task) == (2, 1)
