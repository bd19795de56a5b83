import pytest
from PIL import Image

from nerf_dataset.core.images import png_complete


def test_complete_png_of_the_right_size(tmp_path):
    p = tmp_path / "a.png"
    Image.new("RGBA", (7, 5), (1, 2, 3, 4)).save(p)
    assert png_complete(p, 7, 5)
    assert not png_complete(p, 5, 7)


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "L", "I;16"])
def test_complete_pngs_of_every_kind_blender_writes(tmp_path, mode):
    p = tmp_path / "a.png"
    Image.new(mode, (33, 7)).save(p)
    assert png_complete(p, 33, 7)


def test_a_flipped_byte_inside_the_image_data_is_caught(tmp_path):
    p = tmp_path / "a.png"
    Image.effect_noise((48, 48), 40).convert("RGB").save(p)
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the end of the file is intact: only a full decode notices
    p.write_bytes(bytes(data))
    assert not png_complete(p, 48, 48)


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
    assert not png_complete(tmp_path / "text.png", 64, 64)


def test_publish_drops_blender_stamps_but_keeps_the_pixels(tmp_path):
    from PIL import PngImagePlugin

    from nerf_dataset.core.images import publish_png

    info = PngImagePlugin.PngInfo()
    info.add_text("Date", "2026/11/24 07:12:21")
    info.add_text("RenderTime", "00:00.31")
    src, dst = tmp_path / "staging.png", tmp_path / "final" / "r_0.png"
    Image.new("RGBA", (9, 4), (10, 20, 30, 40)).save(src, pnginfo=info)
    publish_png(src, dst)
    assert not src.exists()
    out = Image.open(dst)
    assert "Date" not in out.info and "RenderTime" not in out.info
    assert out.getpixel((3, 2)) == (10, 20, 30, 40)
    assert png_complete(dst, 9, 4)
