"""Collections of assets (ShapeNet, Objaverse-style lists): which models, under which ids, in which order.

``--import-list FILE``: one source per line, ``SOURCE [ID] [SHA256]`` (a model path, relative to the list's
folder, or an ``http(s)://`` URL; ``#`` starts a comment). ``--import-dir DIR``: every model under ``DIR``, found
recursively in name order; the ShapeNet layouts (v2 ``<synset>/<model>/models/model_normalized.obj``, v1
``<synset>/<model>/model.obj``) are recognised and named ``<synset>/<model>``. An id names the asset's dataset
folder, ``OUT/<id>/``, so it is plain words and slashes, never a way out of ``OUT``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import UserError
from .options import Meta, OptionError, Options, family, option
from .shards import parse_shard
from .untrusted import Unreadable, read_bounded

MODEL_EXTS = (".obj", ".glb", ".gltf", ".ply", ".stl", ".fbx", ".blend")
AXES = ("X", "Y", "Z", "-X", "-Y", "-Z")
NORMALIZE = ("unit-cube", "unit-sphere", "none")
LIGHTING = ("studio", "uniform", "sun")
MAX_ASSETS = 1_000_000
MAX_LIST_BYTES = 64 << 20
ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
SHAPENET_V2 = ("models", "model_normalized.obj")
SHAPENET_V1 = ("model.obj",)
MAX_DOWNLOAD_MB = 1 << 20
OUR_FOLDERS = (".nerf_collection", ".nerf_dataset")
"""This tool's bookkeeping (a job's stored copies of models, a dataset's plan): never a collection's assets."""


def _axis(label: str, importers: str) -> Meta:
    return Meta(f"--{label.lower().replace(' ', '-')}", label, f"the models' {label.lower()}, for importers that take "
                "one", "AXIS", choices=tuple((a, a, "") for a in AXES), noun="axis", none_means=importers,
                unset="DEFAULT", unset_label="Importer's")  # fmt: skip


@family
@dataclass(frozen=True)
class AssetOptions(Options):
    """How each asset of a collection is imported, placed and lit (``blender_io.assets``)."""

    FAMILY = "collection"

    normalize: str = option(
        "unit-cube",
        Meta(
            "--normalize",
            "Normalize",
            "centre each asset and scale it into [-0.5, 0.5]^3 or the unit sphere",
            "MODE",
            choices=tuple((n, n.replace("-", " ").title(), "") for n in NORMALIZE),
            noun="normalisation",
        ),
    )
    up_axis: str | None = option(None, _axis("Up Axis", "the importer's own (.obj: Y)"))
    forward_axis: str | None = option(None, _axis("Forward Axis", "the importer's own (.obj: -Z)"))
    lighting: str = option("studio", Meta(
        "--lighting", "Lighting", "studio (three area lights), uniform (a white world) or sun", "KIND",
        choices=tuple((x, x.title(), "") for x in LIGHTING), noun="lighting"))  # fmt: skip

    def check(self) -> None:
        if self.up_axis and self.forward_axis and self.up_axis.lstrip("-") == self.forward_axis.lstrip("-"):
            raise OptionError(
                "forward_axis", f"{{}} {self.forward_axis} and {{up_axis}} {self.up_axis} lie on one axis"
            )


@family
@dataclass(frozen=True)
class CollectionOptions(Options):
    """Which assets a collection renders and how its downloads go (the panel's Assets and Pattern)."""

    FAMILY = "collection"

    import_list: str | None = option(
        None,
        Meta("--import-list", "Assets", "assets to render, one per line: SOURCE [ID] [SHA256]", "FILE", panel="none"),
    )
    import_dir: str | None = option(
        None,
        Meta("--import-dir", "Assets", "every model under DIR (ShapeNet's layout recognised)", "DIR", panel="none"),
    )
    pattern: str | None = option(
        None,
        Meta(
            "--pattern",
            "Pattern",
            "with --import-dir: only files matching GLOB (e.g. '*.glb')",
            "GLOB",
            prop="assets_pattern",
        ),
    )
    cache: str | None = option(
        None,
        Meta(
            "--cache",
            "Download Cache",
            "download cache for URL sources",
            "DIR",
            none_means="OUT/.nerf_collection/cache",
            panel="none",
        ),
    )
    max_download_mb: int = option(
        512,
        Meta(
            "--max-download-mb", "Largest Download", "largest download, in MB", "MB", 1, MAX_DOWNLOAD_MB, panel="none"
        ),
    )
    asset_timeout: int | None = option(None, Meta(
        "--asset-timeout", "Asset Timeout", "stop an asset that takes longer (download, import, render) and mark it "
        "failed; the next goes on", "SECONDS", 1, 7 * 24 * 3600, none_means="300 in a job and with --workers; "
        "none in one process", panel="none"))  # fmt: skip
    asset_shard: tuple[int, int] | None = option(None, Meta(
        "--asset-shard", "Asset Shard", "render only block I of N of the assets (each worker's)", "I/N",
        parse=parse_shard, panel="none"))  # fmt: skip

    @property
    def given(self) -> bool:
        return bool(self.import_list or self.import_dir)


@dataclass(frozen=True)
class Asset:
    id: str
    """``OUT/<id>/`` holds its dataset: slash-separated plain words."""
    source: str
    """An absolute file path or an http(s) URL."""
    sha256: str | None = None
    stored: str | None = None
    """In a job: where its model lies in the job (``.nerf_collection/assets/<bundle>/<path>``); a worker reads
    that copy, never ``source``."""

    @property
    def shown(self) -> str:
        """The source as the index and messages show it: a URL without its user, password or query (a signed
        URL's token is a credential)."""
        if not self.remote:
            return self.source
        from urllib.parse import urlsplit, urlunsplit

        try:
            u = urlsplit(self.source)
            host = u.hostname or ""
            netloc = f"{host}:{u.port}" if u.port else host
        except ValueError:  # refused when the list is read; never shown raw
            return "(a URL that cannot be parsed)"
        return urlunsplit((u.scheme, netloc, u.path, "…" if u.query else "", ""))

    @property
    def remote(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    @property
    def suffix(self) -> str:
        name = PurePosixPath(self.source.split("?", 1)[0].split("#", 1)[0]).name
        return Path(name).suffix.lower()


RESERVED_IDS = ("index.json", "index.csv")
"""The index files' names: an asset's folder may not take them."""


def check_id(asset_id: str, where: str) -> str:
    parts = asset_id.split("/")
    if parts[0].lower() in RESERVED_IDS:
        raise UserError(f"{where}: id {asset_id!r} is the name of the collection's index; choose another")
    if len(asset_id) > 255 or not all(ID_PART.fullmatch(p) for p in parts) or any(p in (".", "..") for p in parts):
        raise UserError(
            f"{where}: id {asset_id!r} must be words of letters, digits, '.', '_' or '-' (and '/' between them)"
        )
    return asset_id


def _id_from(name: str) -> str:
    """An id from a file name: its stem with anything but plain characters replaced."""
    stem = Path(PurePosixPath(name).name).stem or "asset"
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip("._-") or "asset"
    return clean[:128]


def read_import_list(path) -> list[Asset]:
    """The assets of a list file; ``UserError`` naming the line for a bad one."""
    path = Path(path).expanduser()
    try:
        text = read_bounded(path, limit=MAX_LIST_BYTES).decode("utf-8")
    except Unreadable as exc:
        raise UserError(f"the import list {path} {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"the import list {path} is not UTF-8 text") from None
    assets = []
    for number, line in enumerate(text.split("\n"), start=1):
        words = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
        if not words:
            continue
        where = f"{path.name} line {number}"
        if len(words) > 3:
            raise UserError(f"{where} has {len(words)} words; a line is SOURCE [ID] [SHA256]")
        source, rest = words[0], words[1:]
        sha = next((w.lower() for w in rest if SHA256.fullmatch(w)), None)
        named = [w for w in rest if not SHA256.fullmatch(w)]
        if len(named) > 1:
            raise UserError(f"{where} has two ids; a line is SOURCE [ID] [SHA256]")
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", source) and not source.startswith(("http://", "https://")):
            raise UserError(f"{where}: {source.split(':')[0]} URLs are not fetched (http and https are)")
        if source.startswith(("http://", "https://")):
            _check_url(source, where)
        else:
            source = str((path.parent / source).absolute())
        asset = Asset(check_id(named[0] if named else _id_from(source), where), source, sha)
        if asset.suffix not in MODEL_EXTS and not (asset.remote and asset.suffix in (".zip", "")):
            raise UserError(f"{where}: {source} is no model this tool imports ({', '.join(MODEL_EXTS)})")
        assets.append(asset)
        if len(assets) > MAX_ASSETS:
            raise UserError(f"{path} lists more than {MAX_ASSETS} assets")
    if not assets:
        raise UserError(f"the import list {path} lists no assets")
    return unique_ids(assets, str(path))


def _check_url(url: str, where: str) -> None:
    from urllib.parse import urlsplit

    try:
        u = urlsplit(url)
        ok = bool(u.hostname) and (u.port is None or 0 < u.port < 65536)
    except ValueError:
        ok = False
    if not ok:
        raise UserError(f"{where}: the URL cannot be parsed (host and port)")


def scan_dir(root, pattern: str | None = None, exclude: Path | None = None) -> list[Asset]:
    """Every model under ``root`` (links to folders are not followed: a collection has no loops; ``exclude``, the
    output folder, is skipped), in name order. A ShapeNet model folder yields its one model, ``<synset>/<model>``.
    Names are made plain; two that become one id are told apart by a number."""
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise UserError(f"--import-dir {root} is not a folder")
    exclude = None if exclude is None else Path(exclude).resolve()
    found: list[Asset] = []
    taken: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if (exclude is None or Path(folder, d).resolve() != exclude)
                         and d not in OUR_FOLDERS)  # fmt: skip
        rel = Path(folder).relative_to(root)
        shapenet = _shapenet(Path(folder), rel)
        if shapenet is not None:
            dirs.clear()  # its textures and images are not assets
            if pattern is None or fnmatch.fnmatch(Path(shapenet.source).name, pattern):
                found.append(Asset(_unique(shapenet.id, taken), shapenet.source))
            continue
        models = [n for n in sorted(files) if Path(n).suffix.lower() in MODEL_EXTS]
        stems = Counter(Path(n).stem for n in models)  # before the pattern: an asset's id never depends on it
        for name in (n for n in models if pattern is None or fnmatch.fnmatch(n, pattern)):
            last = Path(name).stem if stems[Path(name).stem] == 1 else name  # a.obj, a.glb: their whole names
            parts = [_plain(p) for p in [*rel.parts, last]]
            found.append(Asset(_unique("/".join(parts)[:255], taken), str(Path(folder) / name)))
        if len(found) > MAX_ASSETS:
            raise UserError(f"{root} holds more than {MAX_ASSETS} models")
    if not found:
        raise UserError(
            f"{root} holds no models ({', '.join(MODEL_EXTS)})" + (f" matching {pattern}" if pattern else "")
        )
    return unique_ids(found, str(root))


def _plain(part: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", part).lstrip("._-")[:128] or "asset"
    return f"{clean}_" if clean.lower() in RESERVED_IDS else clean


def _unique(asset_id: str, taken: set[str]) -> str:
    """``asset_id``, or ``asset_id-2``, ``-3``… when a name made plain is already taken (case-insensitively)."""
    candidate, n = asset_id, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{asset_id[:250]}-{n}"
    taken.add(candidate.lower())
    return candidate


def _shapenet(folder: Path, rel: Path) -> Asset | None:
    if len(rel.parts) != 2:
        return None
    for layout in (SHAPENET_V2, SHAPENET_V1):
        model = folder.joinpath(*layout)
        if model.is_file():
            return Asset(check_id("/".join(rel.parts), str(folder)), str(model))
    return None


def unique_ids(assets: list[Asset], where: str) -> list[Asset]:
    """Ids are folders: two assets may not share one, nor may one id be a folder of another's."""
    seen: dict[str, Asset] = {}
    for a in assets:
        key = a.id.lower()  # case-insensitive file systems would merge them
        if key in seen:
            raise UserError(f"{where}: two assets have the id {a.id!r} ({seen[key].source} and {a.source})")
        seen[key] = a
    prefixes = {"/".join(a.id.lower().split("/")[:i]) for a in assets for i in range(1, a.id.count("/") + 1)}
    clash = next((a for a in assets if a.id.lower() in prefixes), None)
    if clash is not None:
        raise UserError(f"{where}: the id {clash.id!r} is also the folder of other assets' ids")
    return assets


def shard_assets(assets: list[Asset], shard: tuple[int, int]) -> list[Asset]:
    """Contiguous blocks, as the view shards: shard I of N (I from 0, as ``--shard``) of the assets."""
    i, n = shard
    per, extra = divmod(len(assets), n)
    start = i * per + min(i, extra)
    return assets[start : start + per + (1 if i < extra else 0)]
