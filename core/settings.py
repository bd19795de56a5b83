"""What a dataset is made of: one typed settings object shared by the CLI, the operators and job specs."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError
from .rigs import RIG_KINDS, RigSpec, default_elevation_range

ENGINES: tuple[str, ...] = ("CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH")
# Above this many pixels per side a render is almost surely a typo (16K is Blender's own UI limit).
MAX_SIDE_PX = 16384
# The layouts whose readers look for images_<k>/ copies (nerfstudio's downscale_factor, 3DGS's -i images_4).
DOWNSCALED_FORMATS = {"nerfstudio", "colmap"}
NERF_SYNTHETIC_COUNTS = {"train": 100, "val": 100, "test": 200}


@dataclass(frozen=True)
class Settings:
    """Everything that decides the views and the files of a dataset. Same settings + seed = same dataset."""

    formats: tuple[str, ...] = ("nerf",)
    """Output formats, in order; the first one holds the rendered images, the others link to them."""
    train: int | None = None
    """Views in the train split; None = 100 on orbit rigs, 7 of every 8 frames on the ``camera`` rig."""
    val: int | None = None
    test: int | None = None
    rig: str = "hemisphere"
    radius: float | None = None
    """Orbit radius in scene units; None = fit the target's bounding sphere in the field of view."""
    elevation_min: float | None = None
    """Lowest camera elevation in degrees; None = the rig's default (0, or -90 for ``sphere``)."""
    elevation_max: float | None = None
    rings: int = 3
    turns: float = 4.0
    test_elevation: float = 30.0
    resolution: tuple[int, int] | None = None
    """Image width and height in pixels; None = the scene's resolution times its percentage."""
    samples: int | None = None
    """Render samples; None = the scene's setting."""
    engine: str | None = None
    """CYCLES, BLENDER_EEVEE or BLENDER_WORKBENCH; None = the scene's engine."""
    transparent: bool = False
    """Render RGBA with a transparent film (the object's alpha), as NeRF-synthetic does."""
    seed: int = 0
    lens: float | None = None
    """Focal length override in millimetres."""
    points: int = 10000
    """Surface points sampled for COLMAP's points3D and points3d.ply (0: none)."""
    passes: tuple[str, ...] = ()
    """Extra per-view passes, from ``core.passes.PASSES`` (depth, normal, mask)."""
    camera_path_from: str | None = None
    """An animated camera to export as a nerfstudio camera path too (the test views always are)."""
    downscales: tuple[int, ...] = ()
    """Downscale factors of the images_<k>/ copies nerfstudio and COLMAP users train on (2, 4, 8)."""

    def rig_spec(self) -> RigSpec:
        lo, hi = default_elevation_range(self.rig)
        return RigSpec(
            kind=self.rig,
            elevation_min_deg=lo if self.elevation_min is None else self.elevation_min,
            elevation_max_deg=hi if self.elevation_max is None else self.elevation_max,
            rings=self.rings,
            turns=self.turns,
            test_elevation_deg=self.test_elevation,
        )

    def orbit_counts(self) -> dict[str, int]:
        given = {"train": self.train, "val": self.val, "test": self.test}
        return {k: NERF_SYNTHETIC_COUNTS[k] if v is None else v for k, v in given.items()}

    def validate(self, known_formats) -> None:
        """Raise UserError with one sentence for the first thing wrong."""
        for fmt in self.formats:
            if fmt not in known_formats:
                raise UserError(f"unknown format '{fmt}' (choose from {', '.join(known_formats)})")
        if not self.formats:
            raise UserError("--format needs at least one format")
        if len(set(self.formats)) != len(self.formats):
            raise UserError("--format lists a format twice")
        if self.rig not in RIG_KINDS:
            raise UserError(f"unknown rig '{self.rig}' (choose from {', '.join(RIG_KINDS)})")
        if self.engine is not None and self.engine not in ENGINES:
            raise UserError(f"unknown engine '{self.engine}' (choose from {', '.join(ENGINES)})")
        if self.resolution is not None:
            w, h = self.resolution
            if not (0 < w <= MAX_SIDE_PX and 0 < h <= MAX_SIDE_PX):
                raise UserError(f"resolution {w}x{h} is out of range (each side must be 1 to {MAX_SIDE_PX} pixels)")
        for name in ("train", "val", "test"):
            n = getattr(self, name)
            if n is not None and not 0 <= n <= 100000:
                raise UserError(f"--{name} must be between 0 and 100000 views")
        if self.samples is not None and self.samples < 1:
            raise UserError("--samples must be at least 1")
        if self.radius is not None and not self.radius > 0:
            raise UserError("--radius must be positive")
        if self.lens is not None and not self.lens > 0:
            raise UserError("--lens must be positive")
        if not 0 <= self.points <= 10_000_000:
            raise UserError("--points must be between 0 and 10000000")
        for k in self.downscales:
            if k not in (2, 4, 8, 16):
                raise UserError(f"--downscales takes factors 2, 4, 8 or 16, not {k}")
        if self.downscales and not set(self.formats) & DOWNSCALED_FORMATS:
            raise UserError("--downscales makes images_<k>/ folders for the nerfstudio and colmap formats; add one")
        if self.rings < 1:
            raise UserError("--rings must be at least 1")
