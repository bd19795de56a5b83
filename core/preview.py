"""``preview.png``: a contact sheet of a few views per split beside top and side plots of the cameras.

One glance shows whether the object is framed, lit and covered from every side. Drawn with Pillow
only, deterministically (same plan and images, same bytes).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .files import write_bytes_atomic
from .plan import Plan
from .rigs import SPLITS

PREVIEW_FILE = "preview.png"
PER_SPLIT = 6
THUMB = 128
PLOT = 300
PAD = 8
LABEL_H = 14
BACKGROUND = (32, 32, 32)
SPLIT_COLORS = {"train": (80, 160, 255), "val": (255, 170, 60), "test": (110, 220, 110)}


def _thumbnail(path: Path, size: tuple[int, int]):
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGBA")
    # Resized to fill the cell both ways: ``thumbnail`` only shrinks, and left a 32-px render a speck in its
    # cell. Enlarged, each pixel stays a sharp block, so the preview shows the resolution the dataset has.
    grow = image.width < size[0]
    image = image.resize(size, Image.Resampling.NEAREST if grow else Image.Resampling.BOX)
    checker = Image.new("RGBA", image.size, (96, 96, 96, 255))
    light = Image.new("RGBA", image.size, (160, 160, 160, 255))
    cells = (np.indices(image.size[::-1]) // 8).sum(axis=0) % 2 == 0
    checker.paste(light, mask=Image.fromarray((cells * 255).astype(np.uint8)))
    return Image.alpha_composite(checker, image).convert("RGB")


def _sheet(plan: Plan, out_dir: Path):
    from PIL import Image, ImageDraw

    w, h = plan.intrinsics.w, plan.intrinsics.h
    scale = THUMB / max(w, h)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    rows = [s for s in SPLITS if plan.split(s)]
    sheet = Image.new("RGB", (PAD + PER_SPLIT * (tw + PAD), PAD + len(rows) * (th + LABEL_H + PAD)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for r, split in enumerate(rows):
        views = plan.split(split)
        picks = sorted({int(i) for i in np.linspace(0, len(views) - 1, min(PER_SPLIT, len(views)))})
        y = PAD + r * (th + LABEL_H + PAD)
        draw.text((PAD, y), f"{split}: {len(views)} views", fill=SPLIT_COLORS[split])
        for c, i in enumerate(picks):
            sheet.paste(_thumbnail(out_dir / views[i].image, (tw, th)), (PAD + c * (tw + PAD), y + LABEL_H))
    return sheet


def _plot(plan: Plan, axes: tuple[int, int], title: str):
    """Camera positions projected on two world axes, the target's box, and each camera's view direction."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (PLOT, PLOT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    a, b = axes
    eyes = np.array([v.c2w_array()[:3, 3] for v in plan.views])
    lo, hi = np.array(plan.scene.bounds_min), np.array(plan.scene.bounds_max)
    pts = np.vstack([eyes[:, [a, b]], [lo[[a, b]], hi[[a, b]]]])
    centre = (pts.max(axis=0) + pts.min(axis=0)) / 2
    half = max(float(np.max(pts.max(axis=0) - pts.min(axis=0))) / 2, 1e-9) * 1.1
    inner = PLOT / 2 - PAD - LABEL_H / 2

    def px(p):
        q = (np.asarray(p, dtype=float) - centre) / half * inner
        return (PLOT / 2 + q[0], PLOT / 2 + LABEL_H / 2 - q[1])  # image y grows downward

    draw.text((PAD, PAD // 2), title, fill=(220, 220, 220))
    x0, y0 = px(lo[[a, b]])
    x1, y1 = px(hi[[a, b]])
    draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=(230, 80, 80))
    reach = half * 0.08
    for view in plan.views:
        m = view.c2w_array()
        eye, forward = m[:3, 3], -m[:3, 2]  # OpenGL cameras look down their -Z
        color = SPLIT_COLORS[view.split]
        draw.line([px(eye[[a, b]]), px((eye + forward * reach)[[a, b]])], fill=color)
        ex, ey = px(eye[[a, b]])
        draw.ellipse([ex - 2, ey - 2, ex + 2, ey + 2], fill=color)
    return image


def write_preview(plan: Plan, out_dir: Path) -> Path:
    from PIL import Image

    sheet = _sheet(plan, Path(out_dir))
    plots = [_plot(plan, (0, 1), "top (X right, Y up)"), _plot(plan, (0, 2), "side (X right, Z up)")]
    width = sheet.width + PAD + PLOT
    canvas = Image.new("RGB", (width, max(sheet.height, PAD + 2 * (PLOT + PAD))), BACKGROUND)
    canvas.paste(sheet, (0, 0))
    for i, plot in enumerate(plots):
        canvas.paste(plot, (sheet.width, PAD + i * (PLOT + PAD)))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return write_bytes_atomic(Path(out_dir) / PREVIEW_FILE, buf.getvalue())
