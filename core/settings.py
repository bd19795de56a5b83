"""What a dataset is made of: one typed settings object, and the one description of every setting.

Each ``Settings`` field carries a ``Meta``: its CLI flag, its panel label, help, range or choices. The
command line (``commands``), the panel's PropertyGroup (``panels.properties``), the saved plan and the
error messages are all derived from these fields, so a setting is added here and nowhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from . import options
from .errors import UserError
from .options import Choice, Meta, OptionError, family
from .passes import ENGINE_PASSES, PASS_DESCRIPTIONS, PASSES
from .rigs import RIG_DESCRIPTIONS, RIG_KINDS, RIG_LABELS, SPLITS, RigSpec, default_elevation_range

ENGINES: dict[str, str] = {"CYCLES": "Cycles", "BLENDER_EEVEE": "EEVEE", "BLENDER_WORKBENCH": "Workbench"}
assert set(ENGINES) == set(ENGINE_PASSES)
# Above this many pixels per side a render is almost surely a typo (16K is Blender's own UI limit).
MAX_SIDE_PX = 16384
# Blender renders at least 4 pixels a side; asked for fewer it writes 4 and the metadata would lie.
MIN_SIDE_PX = 4
MAX_VIEWS = 100_000
DOWNSCALE_FACTORS = (2, 4, 8, 16)
NERF_SYNTHETIC_COUNTS = {"train": 100, "val": 100, "test": 200}


def setting(default, meta: Meta):
    return options.option(default, meta)


SettingError = OptionError
"""A setting's value is wrong (``core.options.OptionError``, named by flag or label)."""


def _views(split: str) -> Meta:
    return Meta(
        f"--{split}",
        split.title(),
        f"views in the {split} split",
        "N",
        low=0,
        high=MAX_VIEWS,
        none_means=f"auto: {NERF_SYNTHETIC_COUNTS[split]} on orbit rigs, the held-out frames on the camera rig",
        shown=NERF_SYNTHETIC_COUNTS[split],
    )


def _elevation(part: int) -> Meta:
    return Meta(
        "--elevation",
        ("Min Elevation", "Max Elevation")[part],
        "camera elevation range in degrees",
        "MIN,MAX",
        low=-90.0,
        high=90.0,
        none_means="0 to 90 degrees (sphere: -90 to 90)",
        shown=(0.0, 90.0)[part],
        part=part,
    )


def _choices(ids, descriptions: dict[str, str], labels: dict[str, str] | None = None) -> tuple[Choice, ...]:
    return tuple((str(k), (labels or {}).get(k, str(k).title()), descriptions.get(k, "")) for k in ids)


@family
@dataclass(frozen=True)
class Settings:
    """Everything that decides the views and the files of a dataset. Same settings + seed = same dataset."""

    formats: tuple[str, ...] = setting(
        ("nerf",),
        Meta("--format", "Formats", "output formats, the first holds the images", "LIST", noun="format", ordered=True),
    )
    train: int | None = setting(None, _views("train"))
    val: int | None = setting(None, _views("val"))
    test: int | None = setting(None, _views("test"))
    rig: str = setting(
        "hemisphere",
        Meta(
            "--rig",
            "Rig",
            "where the cameras go",
            "KIND",
            choices=_choices(RIG_KINDS, RIG_DESCRIPTIONS, RIG_LABELS),
            noun="rig",
        ),
    )
    radius: float | None = setting(
        None,
        Meta(
            "--radius",
            "Radius",
            "orbit radius in scene units",
            "R",
            low=1e-6,
            high=1e9,
            none_means="fit the object's bounding sphere in view",
            shown=4.0,
            panel="length",
        ),
    )
    elevation_min: float | None = setting(None, _elevation(0))
    elevation_max: float | None = setting(None, _elevation(1))
    rings: int = setting(3, Meta("--rings", "Rings", "orbit rings of the rings rig", "K", low=1, high=256))
    turns: float = setting(4.0, Meta("--turns", "Turns", "turns of the spiral rig", "T", positive=True, high=1000.0))
    test_elevation: float = setting(
        30.0, Meta("--test-elevation", "Test Elevation", "elevation of the test ring in degrees", "DEG", -90.0, 90.0)
    )
    resolution: tuple[int, int] | None = setting(
        None,
        Meta(
            "--resolution",
            "Resolution",
            "image width and height in pixels",
            "WxH",
            low=MIN_SIDE_PX,
            high=MAX_SIDE_PX,
            none_means="the scene's resolution times its percentage",
            shown=(800, 800),
        ),
    )
    samples: int | None = setting(
        None,
        Meta("--samples", "Samples", "render samples", "N", low=1, high=1 << 20, none_means="the scene's", shown=64),
    )
    engine: str | None = setting(
        None,
        Meta(
            "--engine",
            "Engine",
            "render engine",
            "NAME",
            choices=_choices(ENGINES, {}, ENGINES),
            noun="engine",
            none_means="the scene's engine and its settings",
        ),
    )
    transparent: bool = setting(
        False, Meta("--transparent", "Transparent Background", "RGBA images with a transparent film (the alpha)")
    )
    seed: int = setting(0, Meta("--seed", "Seed", "same seed + same settings = same dataset", "N", 0, 2**31 - 1))
    lens: float | None = setting(
        None,
        Meta(
            "--lens",
            "Focal Length",
            "focal length override in millimetres",
            "MM",
            low=1.0,
            high=5000.0,
            none_means="the camera's",
            shown=50.0,
        ),
    )
    points: int = setting(
        10000,
        Meta(
            "--points", "Surface Points", "surface points for COLMAP's points3D and points3d.ply (0: none)", "N", 0, 1e7
        ),
    )
    passes: tuple[str, ...] = setting(
        (),
        Meta(
            "--passes",
            "Passes",
            "extra files beside each image",
            "LIST",
            choices=_choices(PASSES, PASS_DESCRIPTIONS),
            noun="pass",
        ),
    )
    camera_path_from: str | None = setting(
        None,
        Meta(
            "--camera-path-from",
            "Fly-through Camera",
            "an animated camera to export as a nerfstudio camera path too (the test views always are)",
            "OBJECT",
            panel="camera",
        ),
    )
    cameras_from: str | None = setting(
        None,
        Meta(
            "--cameras-from",
            "Cameras From",
            "a dataset (NeRF-synthetic, instant-ngp, nerfstudio or COLMAP; a folder or its file) whose views "
            "to render again: sets the dataset rig",
            "PATH",
            panel="file",
        ),
    )
    cameras_transform: str | None = setting(
        None,
        Meta(
            "--cameras-transform",
            "Cameras Transform",
            "a 4x4 matrix, or nerfstudio's dataparser_transforms.json, mapping those cameras into the scene",
            "FILE",
            none_means="identity: the cameras are in the scene's frame",
            panel="file",
        ),
    )
    holdout: int = setting(
        0,
        Meta(
            "--holdout",
            "Hold Out Every",
            "cameras from a dataset without splits: every Nth is a test view (8 as 3DGS's --eval; 0: all train)",
            "N",
            0,
            1000,
        ),
    )
    downscales: tuple[int, ...] = setting(
        (),
        Meta(
            "--downscales",
            "Downscales",
            "images_<k>/ copies for the formats that read them",
            "LIST",
            choices=_choices(DOWNSCALE_FACTORS, {k: f"images_{k}/" for k in DOWNSCALE_FACTORS}, {
                k: f"1/{k}" for k in DOWNSCALE_FACTORS
            }),
            noun="factor",
        ),
    )  # fmt: skip

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

    def _check_dataset_rig(self) -> None:
        if self.holdout == 1:
            raise SettingError("holdout", "{} 1 would make every view a test view: give 0 (none) or at least 2")
        if self.rig == "dataset" and not self.cameras_from:
            raise SettingError("cameras_from", "{rig} dataset renders the views of another dataset: give {}")
        if self.rig != "dataset":
            for name in ("cameras_from", "cameras_transform", "holdout"):
                if getattr(self, name):
                    raise SettingError(name, f"{{}} belongs to {{rig}} dataset, not {{rig}} {self.rig}")
            return
        kept = {"lens": "the source's intrinsics", **dict.fromkeys(SPLITS, "the source's splits")}
        given = next((n for n in kept if getattr(self, n) is not None), None)
        if given:
            raise SettingError(given, f"{{rig}} dataset keeps {kept[given]}; leave {{}} out")

    def orbit_counts(self) -> dict[str, int]:
        given = {"train": self.train, "val": self.val, "test": self.test}
        return {k: NERF_SYNTHETIC_COUNTS[k] if v is None else v for k, v in given.items()}

    def counts_given(self) -> bool:
        return any(getattr(self, s) is not None for s in SPLITS)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> Settings:
        """The inverse of ``to_dict`` (JSON gives lists where the settings hold tuples)."""
        unknown = set(d) - set(SETTING_FIELDS)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        return Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def validate(self, formats: dict[str, object]) -> None:
        """Raise ``SettingError`` for the first value out of range; ``formats`` maps names to format descriptions."""
        for f in fields(self):
            check_value(f.name, getattr(self, f.name), formats)
        if not self.formats:
            raise SettingError("formats", "{} needs at least one format")
        downscaling = [n for n, rec in formats.items() if getattr(rec, "takes_downscales", False)]
        if self.downscales and not set(self.formats) & set(downscaling):
            raise SettingError("downscales", "{} makes images_<k>/ folders for the " + " and ".join(downscaling) +
                               " formats; add one")  # fmt: skip
        if self.resolution is not None and self.downscales:
            check_downscales(self.resolution, self.downscales)
        self._check_dataset_rig()
        if self.elevation_min is not None and self.elevation_max is not None:
            if self.elevation_min > self.elevation_max:
                raise SettingError("elevation_min", "{} must go from the lower to the higher elevation")


def check_downscales(size: tuple[int, int], factors) -> None:
    """Every ``images_<k>/`` copy is at least ``MIN_SIDE_PX`` a side (``floor(w / k)`` by ``floor(h / k)``)."""
    w, h = size
    k = max(factors, default=1)
    if min(w, h) // k < MIN_SIDE_PX:
        raise SettingError("downscales", f"{{}} {k} makes {w // k}x{h // k} copies of {w}x{h} images; "
                           f"each side needs at least {MIN_SIDE_PX} px")  # fmt: skip


def check_size(size: tuple[int, int], where: str) -> None:
    """A render size Blender will really make (the scene's resolution at its percentage can round to 0)."""
    w, h = size
    if not (MIN_SIDE_PX <= w <= MAX_SIDE_PX and MIN_SIDE_PX <= h <= MAX_SIDE_PX):
        raise SettingError("resolution", f"{where} gives {w}x{h} images; each side must be {MIN_SIDE_PX} to "
                           f"{MAX_SIDE_PX} px (set {{}})")  # fmt: skip


def meta_of(name: str) -> Meta:
    return options.meta_of(Settings, name)


def flag_of(name: str) -> str:
    return options.flag_of(name)


def label_of(name: str) -> str:
    return options.label_of(name)


def kind_of(name: str) -> str:
    """bool, int, float, str, list (a tuple of choices), or size (a (w, h) pair)."""
    return options.kind_of(Settings, name)


def optional(name: str) -> bool:
    return options.optional(Settings, name)


def choice_ids(name: str, formats: dict | None = None) -> tuple:
    """The allowed values of a setting, in their canonical order (formats: the exporters' names)."""
    return options.choice_ids(Settings, name, formats if name == "formats" else None)


def check_value(name: str, value, formats: dict) -> None:
    options.check_value(Settings, name, value, formats if name == "formats" else None)


def parse_pair(name: str, text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise SettingError(name, f"{{}} expects MIN,MAX, not '{text}'") from None
    return lo, hi


SETTING_FIELDS = options.fields_of(Settings)


def compound_flags() -> dict[str, list[str]]:
    """Flags that set several fields at once, e.g. ``--elevation`` -> [elevation_min, elevation_max]."""
    out: dict[str, list[str]] = {}
    for name in SETTING_FIELDS:
        meta = meta_of(name)
        if meta.part is not None:
            out.setdefault(meta.flag, []).append(name)
    return out


def setting_name(key: str) -> str | None:
    """The setting a user names by its flag or its field (``format`` or ``formats``, ``test-elevation``); a compound
    flag's name (``elevation``) is itself (``settings_from_values`` takes it); None: no setting."""
    key = key.lstrip("-")
    for name in SETTING_FIELDS:
        meta = meta_of(name)
        if meta.flag[2:] == key.replace("_", "-"):
            return name if meta.part is None else meta.flag[2:]
    under = key.replace("-", "_")
    return under if under in SETTING_FIELDS else None


def check_setting(name: str, value) -> None:
    """One setting's value as typed or as text, checked on its own (a setting name of ``setting_name``): its form,
    kind and range; the formats' names and what settings say together are the whole ``Settings``' to check."""
    if name == "formats":
        return
    if name not in SETTING_FIELDS:  # a compound flag's (--elevation MIN,MAX): each part on its own
        names = compound_flags()[f"--{name}"]
        pair = parse_pair(names[0], value) if isinstance(value, str) else value
        if not (isinstance(pair, list | tuple) and len(pair) == len(names)):
            raise SettingError(names[0], f"{{}} expects MIN,MAX, not {value!r}")
        for part, part_name in zip(pair, names):
            check_value(part_name, part, {})
        return
    check_value(name, options.value_from_text(Settings, name, value), {})


def settings_from_values(values: dict, formats: dict) -> Settings:
    """The settings that ``values`` give, checked (``SettingError`` names the flag or label): each value typed, or
    as text the CLI would take (``"64x64"``, ``"depth,mask"``, ``"--elevation"``'s ``"10,80"`` under
    ``elevation``); what is missing or None keeps its default. What every asker hands in: the CLI's flags, a
    stream's launch, a collection's batch file."""
    unknown = set(values) - set(SETTING_FIELDS) - {compound[2:] for compound in compound_flags()}
    if unknown:
        raise UserError(f"unknown setting {sorted(unknown)[0]!r}")
    given = {}
    for flag, names in compound_flags().items():
        raw = values.get(flag[2:])
        pair = parse_pair(names[0], raw) if isinstance(raw, str) else raw
        for part, name in enumerate(names):
            given[name] = values.get(name, None if pair is None else pair[part])
    for name in SETTING_FIELDS:
        if name not in given and values.get(name) is not None:
            given[name] = options.value_from_text(Settings, name, values[name], formats if name == "formats" else None)
    if given.get("cameras_from") and given.get("rig") is None:
        given["rig"] = "dataset"  # the only rig it belongs to
    settings = Settings(**{k: v for k, v in given.items() if v is not None})
    settings.validate(formats)
    return settings
