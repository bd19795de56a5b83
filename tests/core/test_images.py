from PIL import Image

from nerf_dataset.core.images import png_complete, png_size


def test_complete_png_of_the_right_size(tmp_path):
    p = tmp_path / "a.png"
    Image.new("RGBA", (7, 5), (1, 2, 3, 4)).save(p)
    assert png_size(p) == (7, 5)
    assert png_complete(p, 7, 5)
    assert not png_complete(p, 5, 7)


def test_truncated_empty_and_missing_files_are_incomplete(tmp_path):
    p = tmp_path / "a.png"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 5])
    assert not png_complete(p, 64, 64)
    p.write_bytes(b"")
    assert not png_complete(p, 64, 64)
    assert not png_complete(tmp_path / "missing.png", 64, 64)
    (tmp_path / "text.png").write_text("not a png at all, but long enough to have a header...")
    assert png_size(tmp_path / "text.png") is None
