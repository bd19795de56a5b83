"""Issue 13 without Blender: list files, folder scans (ShapeNet's layouts), ids, asset shards and the index."""

import json

import pytest

from nerf_dataset.core.asset_index import AssetRecord, read_record, write_index, write_record
from nerf_dataset.core.collection import Asset, read_import_list, scan_dir, shard_assets
from nerf_dataset.core.errors import UserError


def test_a_list_names_paths_urls_ids_and_sums(tmp_path):
    digest = "ab" * 32
    (tmp_path / "list.txt").write_text(
        "# assets\nmodels/chair.obj\nhttps://example.org/a.glb plane " + digest + "\n\nb.ply bench  # a comment\n"
    )
    assets = read_import_list(tmp_path / "list.txt")
    assert assets == [
        Asset("chair", str(tmp_path / "models" / "chair.obj")),
        Asset("plane", "https://example.org/a.glb", digest),
        Asset("bench", str(tmp_path / "b.ply")),
    ]


@pytest.mark.parametrize(
    "line, words",
    [
        ("a.obj ../up", "id '../up' must be words"),
        ("a.obj /abs", "id '/abs' must be words"),
        ("a.obj .hidden", "must be words"),
        ("a.obj x y z", "has 4 words"),
        ("ftp://host/a.obj", "ftp URLs are not fetched"),
        ("file:///etc/passwd.obj", "file URLs are not fetched"),
        ("notes.txt", "is no model this tool imports"),
        ("a.obj x\nb.obj X", "two assets have the id 'X'"),
        ("a.obj x\nb.obj x/y", "the id 'x' is also the folder of other assets' ids"),
    ],
)
def test_bad_lines_are_one_sentence_naming_the_line(tmp_path, line, words):
    (tmp_path / "list.txt").write_text(line + "\n")
    with pytest.raises(UserError, match=words):
        read_import_list(tmp_path / "list.txt")


def test_a_folder_scan_knows_shapenet_and_names_the_rest_by_path(tmp_path):
    for path in (
        "02691156/1a04e/models/model_normalized.obj",
        "02691156/1a04e/images/texture0.jpg",
        "03001627/2b17/model.obj",
        "misc/lamp.glb",
        "misc/lamp.obj",
        "misc/read me.txt",
        "misc/odd name.ply",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"")
    (tmp_path / "misc" / "loop").symlink_to(tmp_path)  # not followed
    ids = [a.id for a in scan_dir(tmp_path)]
    assert ids == ["02691156/1a04e", "03001627/2b17", "misc/lamp.glb", "misc/lamp.obj", "misc/odd_name"]
    assert [a.id for a in scan_dir(tmp_path, "*.glb")] == ["misc/lamp.glb"]
    with pytest.raises(UserError, match="holds no models"):
        scan_dir(tmp_path / "02691156" / "1a04e" / "images")


def test_asset_shards_are_contiguous_blocks_covering_all():
    assets = [Asset(f"a{i}", f"/m/{i}.obj") for i in range(7)]
    blocks = [shard_assets(assets, (i, 3)) for i in range(3)]
    assert [len(b) for b in blocks] == [3, 2, 2] and sum(blocks, []) == assets


def test_records_and_the_index(tmp_path):
    done = AssetRecord("c/m", "/x/m.obj", "done", "", 6, {"mode": "unit-cube", "scale": 0.5,
                       "model_to_world": [[0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 1]]},
                       (-0.5, -0.2, -0.1), (0.5, 0.2, 0.1), 1.25)  # fmt: skip
    failed = AssetRecord("bad", "/x/bad.glb", "failed", "cannot import bad.glb: not glTF")
    for r in (done, failed):
        write_record(tmp_path, r)
    assert read_record(tmp_path, "c/m") == AssetRecord(**json.loads(json.dumps(done.to_json())))
    (tmp_path / ".nerf_collection" / "records" / "bad" / "record.json").write_text("{broken")
    assert read_record(tmp_path, "bad") is None  # an unreadable record: the asset is done again
    write_index(tmp_path, [done, failed])
    rows = (tmp_path / "index.csv").read_text().splitlines()
    assert rows[1].startswith("c/m,/x/m.obj,done,,6,unit-cube,0.5,0.5 0 0 0 0 0.5 0 0 0 0 0.5 0 0 0 0 1,")
    assert rows[2].startswith("bad,/x/bad.glb,failed,cannot import bad.glb: not glTF,0")
    assert [r["id"] for r in json.loads((tmp_path / "index.json").read_text())] == ["c/m", "bad"]


def test_ids_never_take_the_index_names_and_records_never_collide(tmp_path):
    (tmp_path / "list.txt").write_text("a.obj index.json\n")
    with pytest.raises(UserError, match="is the name of the collection's index"):
        read_import_list(tmp_path / "list.txt")
    (tmp_path / "list.txt").write_text("# nothing\n\n")
    with pytest.raises(UserError, match="lists no assets"):
        read_import_list(tmp_path / "list.txt")
    for asset_id in ("x", "x.json/y"):
        write_record(tmp_path, AssetRecord(asset_id, "/m.obj", "done"))
    assert read_record(tmp_path, "x").id == "x" and read_record(tmp_path, "x.json/y").id == "x.json/y"


def test_a_scan_makes_odd_names_plain_and_distinct_and_skips_the_output(tmp_path):
    names = ["椅子.obj", "桌子.obj", "x" * 150 + ".obj", "index.obj", "Index.glb"]
    for name in names:
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "in" / name).write_bytes(b"")
    (tmp_path / "in" / "out" / "a").mkdir(parents=True)
    (tmp_path / "in" / "out" / "a" / "points3d.ply").write_bytes(b"")
    ids = [a.id for a in scan_dir(tmp_path / "in", exclude=tmp_path / "in" / "out")]
    assert ids == ["Index", "index-2", "x" * 128, "asset", "asset-2"]  # in file-name order
    assert len({i.lower() for i in ids}) == len(ids)


def test_a_url_shows_without_its_credentials():
    a = Asset("a", "https://user:s3cret@example.org:8443/m/a.glb?X-Amz-Signature=abc#frag")
    assert a.shown == "https://example.org:8443/m/a.glb?…" and "s3cret" not in a.shown


def test_a_url_that_cannot_be_parsed_is_refused_when_the_list_is_read(tmp_path):
    for url in ("http://u:p@[::1/x.obj", "http://host:99999/x.obj"):
        (tmp_path / "list.txt").write_text(url + "\n")
        with pytest.raises(UserError, match="line 1: the URL cannot be parsed"):
            read_import_list(tmp_path / "list.txt")


def test_the_output_is_skipped_however_it_is_spelled(tmp_path):
    (tmp_path / "in" / "out" / "a").mkdir(parents=True)
    (tmp_path / "in" / "m.obj").write_bytes(b"")
    (tmp_path / "in" / "out" / "a" / "points3D.ply").write_bytes(b"")
    (tmp_path / "link").symlink_to(tmp_path / "in")
    for root in (tmp_path / "in" / ".." / "in", tmp_path / "link"):
        assert [a.id for a in scan_dir(root, exclude=tmp_path / "in" / "out")] == ["m"]
