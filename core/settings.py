"""What a dataset is made of: one typed settings object, and the one description of every setting.

Each ``Settings`` field carries a ``Meta``: its CLI flag, its panel label, help, range or choices. The
command line (``app.commandline``), the panel's PropertyGroup (``ui.properties``), the saved plan and the
error messages are all derived from these fields, so a setting is added here and nowhere else.
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import asdict, dataclass, field, fields

from .errors import UserError
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

Choice = tuple[str, str, str]
"""(identifier, label, description), as Blender's enum items want them."""


@dataclass(frozen=True)
class Meta:
    """How one setting is asked for and checked, wherever it is asked for."""

    flag: str
    label: str
    help: str
    metavar: str = ""
    low: float | None = None
    """Smallest allowed value (inclusive)."""
    high: float | None = None
    positive: bool = False
    """The value must be above 0."""
    choices: tuple[Choice, ...] = ()
    """Allowed values; empty for formats, whose names the exporters give (``choices=`` of the derivers)."""
    noun: str = "value"
    """What one of the choices is called in a message: "unknown pass 'albedo'"."""
    none_means: str = ""
    """For a setting that may be left unset: what that means, shown in the panel and the CLI help."""
    shown: object = None
    """The value the panel offers when an unset setting is switched on."""
    part: int | None = None
    """This field is element ``part`` of a compound flag (``--elevation MIN,MAX``)."""
    panel: str = ""
    """How the panel edits it, when not by its type: "camera" (an object picker), "length" (scene units)."""


def setting(default, meta: Meta):
    return field(default=default, metadata={"meta": meta})


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


@dataclass(frozen=True)
class Settings:
    """Everything that decides the views and the files of a dataset. Same settings + seed = same dataset."""

    formats: tuple[str, ...] = setting(
        ("nerf",),
        Meta("--format", "Formats", "output formats, the first holds the images", "LIST", noun="format"),
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
        """Raise ``SettingError`` for the first value out of range; ``formats`` maps names to format records."""
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


# How the CLI and the panel name the options of a run (``app.dataset.RunOptions``), which are no settings.
RUN_OPTION_WORDS = {
    "out": ("--out", "Output Folder"),
    "overwrite": ("--overwrite", "Overwrite"),
    "resume": ("--resume", "Resume"),
}


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


class SettingError(UserError):
    """A setting's value is wrong. The message names settings in the caller's words: ``{}`` is the setting
    itself and ``{name}`` any other setting or run option, a flag on the CLI (``str``), a label in the UI."""

    def __init__(self, name: str, text: str):
        self.setting, self.text = name, text
        super().__init__(self.worded(flag_of))

    def worded(self, name_of) -> str:
        return re.sub(r"\{(\w*)\}", lambda m: name_of(m.group(1) or self.setting), self.text)


def meta_of(name: str) -> Meta:
    return SETTING_FIELDS[name].metadata["meta"]


def flag_of(name: str) -> str:
    return meta_of(name).flag if name in SETTING_FIELDS else RUN_OPTION_WORDS[name][0]


def label_of(name: str) -> str:
    return meta_of(name).label if name in SETTING_FIELDS else RUN_OPTION_WORDS[name][1]


def kind_of(name: str) -> str:
    """bool, int, float, str, list (a tuple of choices), or size (a (w, h) pair)."""
    base = _base_type(name)
    if typing.get_origin(base) is tuple:
        return "list" if typing.get_args(base)[-1] is Ellipsis else "size"
    return base.__name__


def optional(name: str) -> bool:
    return _base_type(name) is not _HINTS[name]


def _base_type(name: str):
    """The field's type without its ``| None``."""
    hint = _HINTS[name]
    if isinstance(hint, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def choice_ids(name: str, formats: dict | None = None) -> tuple:
    """The allowed values of a setting, in their canonical order (formats: the exporters' names)."""
    if name == "formats":
        return tuple(formats or ())
    ids = [c[0] for c in meta_of(name).choices]
    return tuple(int(i) for i in ids) if kind_of(name) == "list" and _item_type(name) is int else tuple(ids)


def _item_type(name: str):
    return typing.get_args(_base_type(name))[0]


def check_value(name: str, value, formats: dict) -> None:
    if value is None:
        return
    meta, kind = meta_of(name), kind_of(name)
    if kind in ("int", "float") or kind == "size":
        for x in value if kind == "size" else (value,):
            _check_number(name, meta, x)
    elif kind == "list":
        allowed = choice_ids(name, formats)
        for x in value:
            if x not in allowed:
                raise SettingError(
                    name, f"{{}}: unknown {meta.noun} '{x}' (choose from {', '.join(map(str, allowed))})"
                )
        if len(set(value)) != len(value):
            raise SettingError(name, f"{{}} lists a {meta.noun} twice")
    elif kind == "str" and meta.choices and value not in choice_ids(name):
        allowed = ", ".join(choice_ids(name))
        raise SettingError(name, f"{{}}: unknown {meta.noun} '{value}' (choose from {allowed})")


def _check_number(name: str, meta: Meta, x) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise SettingError(name, f"{{}} must be a finite number, not {x!r}")
    low = "above 0" if meta.positive else None if meta.low is None else f"at least {meta.low:g}"
    if (
        (meta.positive and x <= 0)
        or (meta.low is not None and x < meta.low)
        or (meta.high is not None and x > meta.high)
    ):
        bounds = " and ".join(b for b in (low, None if meta.high is None else f"at most {meta.high:g}") if b)
        raise SettingError(name, f"{{}} must be {bounds}, not {x:g}")


def parse_text(name: str, text: str, formats: dict | None = None):
    """A setting's value from the text a user typed (the CLI's comma lists, ``WxH``), checked for form only."""
    kind = kind_of(name)
    parts = [p.strip() for p in text.split("x" if kind == "size" else ",")]
    if kind == "size":
        try:
            w, h = (int(p) for p in text.lower().split("x"))
        except ValueError:
            raise SettingError(name, f"{{}} must look like 800x600, not '{text}'") from None
        return w, h
    items = [p.lower() if name == "passes" else p for p in parts if p]
    if not items:
        raise SettingError(name, "{} lists nothing; leave the option out for none")
    if _item_type(name) is int:
        try:
            items = [int(p) for p in items]
        except ValueError:
            raise SettingError(name, f"{{}} takes whole numbers like 2,4,8, not '{text}'") from None
    check_value(name, tuple(items), formats or {})
    if name == "formats":
        return tuple(items)  # the order is the user's: the first format holds the images
    return tuple(x for x in choice_ids(name) if x in items)  # one canonical order, so equal settings compare equal


def parse_pair(name: str, text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise SettingError(name, f"{{}} expects MIN,MAX, not '{text}'") from None
    return lo, hi


SETTING_FIELDS = {f.name: f for f in fields(Settings)}
_HINTS = typing.get_type_hints(Settings)


def compound_flags() -> dict[str, list[str]]:
    """Flags that set several fields at once, e.g. ``--elevation`` -> [elevation_min, elevation_max]."""
    out: dict[str, list[str]] = {}
    for name in SETTING_FIELDS:
        meta = meta_of(name)
        if meta.part is not None:
            out.setdefault(meta.flag, []).append(name)
    return out


def settings_argv(settings: Settings) -> list[str]:
    """The CLI options that give ``settings`` (those left at their defaults are left out): what the panel hands a
    background ``cli.py``, and ``settings_from_args`` of them gives ``settings`` back."""
    argv: list[str] = []
    pairs = compound_flags()
    for name, f in SETTING_FIELDS.items():
        meta, value = meta_of(name), getattr(settings, name)
        if meta.part is not None:
            both = [getattr(settings, n) for n in pairs[meta.flag]]
            if meta.part == 0 and None not in both:
                argv.append(f"{meta.flag}={both[0]!r},{both[1]!r}")  # "=": a negative value is no flag
            continue
        if value == f.default:
            continue
        kind = kind_of(name)
        if kind == "bool":
            argv.append(meta.flag)
        elif kind == "list":
            argv += [meta.flag, ",".join(map(str, value))]
        elif kind == "size":
            argv += [meta.flag, f"{value[0]}x{value[1]}"]
        else:
            argv.append(f"{meta.flag}={value!r}" if isinstance(value, float) else f"{meta.flag}={value}")
    if settings.cameras_from and settings.rig == "dataset":
        argv = [a for a in argv if a != "--rig=dataset"]  # --cameras-from sets it
    return argv
