"""Format writers, one module per consumer format, registered by name in ``FORMATS``.

Each module exposes ``image_relpath(split, index)`` (where its layout keeps a view's image, relative to
the format's folder) and ``write(plan, format_dir) -> list[Path]`` (its JSON files, written atomically
once the images are in place). No module here imports Blender.
"""

from . import colmap, instant_ngp, nerf_synthetic, nerfstudio

FORMATS = {
    "nerf": nerf_synthetic,
    "ngp": instant_ngp,
    "nerfstudio": nerfstudio,
    "colmap": colmap,
}
