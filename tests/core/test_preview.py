"""``preview.png`` shows every render filling its cell, small renders scaled up as large ones are scaled down."""

import numpy as np
import pytest
from fake_scenes import facts
from PIL import Image

from nerf_dataset.app.ownership import image_namer
from nerf_dataset.core.camera import Raster
from nerf_dataset.core.plan import build_plan
from nerf_dataset.core.preview import LABEL_H, PAD, PREVIEW_FILE, THUMB, write_preview
from nerf_dataset.core.settings import Settings

RED = (250, 20, 20)


@pytest.mark.parametrize("w, h", [(32, 24), (400, 300), (24, 32)])
def test_each_render_fills_its_cell(tmp_path, w, h):
    settings = Settings(formats=("nerf",), points=0, train=2, val=1, test=1)
    plan = build_plan(settings, facts(raster=Raster(w, h)), image_namer(settings.formats))
    for view in plan.views:
        (tmp_path / view.image).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), RED).save(tmp_path / view.image)
    sheet = np.asarray(Image.open(write_preview(plan, tmp_path)).convert("RGB"))
    assert (tmp_path / PREVIEW_FILE).is_file()
    tw, th = round(w * THUMB / max(w, h)), round(h * THUMB / max(w, h))
    top = PAD + LABEL_H  # the first row's first cell
    cell = sheet[top : top + th, PAD : PAD + tw]
    assert (cell == RED).all(axis=2).mean() == 1.0
    assert not (sheet[top + th, PAD : PAD + tw] == RED).all(axis=1).any()  # and no further
