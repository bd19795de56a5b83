"""Format writers, one module per consumer format, registered by name in ``FORMATS``.

Each module exposes ``USES_POINTS`` (whether it writes the surface points), ``image_relpath(split,
index)`` (where its layout keeps a view's image, relative to the format's folder) and
``write(plan, format_dir, points) -> list[Path]`` (its files, written atomically once the images are in
place; ``points`` is None when none were sampled). No module here imports Blender.
"""

from . import colmap, instant_ngp, nerf_synthetic, nerfstudio

FORMATS = {
    "nerf": nerf_synthetic,
    "ngp": instant_ngp,
    "nerfstudio": nerfstudio,
    "colmap": colmap,
}
