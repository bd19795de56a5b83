"""The output formats, one module and one ``Format`` description each (``format.Format``), registered in ``FORMATS``.

Each description holds the format's names, layout, writer and reader; everything that lists formats derives
from ``FORMATS``. No module here imports Blender.
"""

from . import colmap, instant_ngp, nerf_synthetic, nerfstudio
from .format import Format

FORMATS: dict[str, Format] = {m.FORMAT.name: m.FORMAT for m in (nerf_synthetic, instant_ngp, nerfstudio, colmap)}
