"""The description of one output format, complete: its names, its layout, its writer and its reader.

Everything that lists formats (the CLI help, the panel toggles, the size estimate, ``validate``) reads
these descriptions, so a format is added by writing one module with one ``FORMAT``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class Format:
    name: str
    """What ``--format`` and the plan call it."""
    label: str
    description: str
    image_relpath: Callable[[str, int], PurePosixPath]
    """Where the layout keeps view ``index`` of ``split``, relative to the format's folder."""
    pass_relpath: Callable[[str, int, str, str], PurePosixPath]
    """(split, index, pass, extension) -> where the layout keeps that pass file."""
    write: Callable
    """``write(plan, format_dir, points) -> list[Path]``: the format's files, written atomically, images in place."""
    read: Callable
    """``read(ds: core.reader_kit.Dataset)``: collect the cameras and traps as the format's consumers read them."""
    claims: Callable[[Path], bool]
    """Whether a folder holds this format (``validate`` runs the readers of the formats it finds)."""
    files: tuple[str, ...] = ()
    """Every file ``write`` may write, relative to the format's folder, in the order it writes them: the file
    a consumer opens first comes last, so it never appears before the rest is complete."""
    scratch: tuple[str, ...] = ()
    """Folders ``write`` uses while it writes (ours: a later run may remove them)."""
    uses_points: bool = False
    """Writes the surface points (``core.points``)."""
    takes_downscales: bool = False
    """Its consumers read ``images_<k>/`` copies (nerfstudio's downscale_factor, 3DGS's ``-i images_4``)."""
    holds_view_intrinsics: bool = True
    """Its consumers take each view's own intrinsics and non-square pixels; NeRF-synthetic's loaders read one
    ``camera_angle_x`` for every frame and assume square pixels (``core.plan.check_formats_hold``)."""
