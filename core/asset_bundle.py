"""An asset's files: its model and what the model names (an .obj's material libraries and their textures, a
.gltf's or .glb's external buffers and images), found without Blender so that a job can carry them.

A job's assets travel in it (``cloud.collection_job``): each is a *bundle*, its files at their places relative
to one folder, stored once under the digest of its contents (ShapeNet and Objaverse hold duplicates). Only files
under ``root`` (the collection's folder) are taken: a model that names ``/etc/passwd`` or ``../../secret`` as a
texture never carries it. A name that is no file is left out, as Blender's importer leaves it out. Models are read
as hostile: bounded, and a reference count that no model has is cut off.

The references are found the way Blender's importers look for them: an .obj's ``mtllib`` names (the whole rest of
the line, then each word), an .mtl's texture maps after their options (the whole rest, with ``_`` as spaces, then
the bare file name in the .mtl's folder), a glTF's ``uri`` (percent-decoded; ``data:`` URIs are inside the file).
FBX and .blend files name textures in binary structures that only Blender reads: their external files are not
carried (FBX files usually embed them; ``--import`` of a .blend packs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from .errors import UserError
from .files import sha256_of

MAX_REFERENCES = 512
MAX_SCAN_BYTES = 256 << 20
"""An .obj's text is scanned for ``mtllib`` up to here (the lines come first in every exporter's files)."""
MAX_SIDE_BYTES = 16 << 20
MAX_MTL_BYTES = 64 << 20
"""All of one model's material libraries together: more is no real model's, and is not read."""
"""An .mtl, a .gltf's JSON, a .glb's JSON chunk: larger than any real one."""
TEXTURE_KEYS = {b"map_kd", b"map_ka", b"map_ks", b"map_ns", b"map_d", b"map_bump", b"bump", b"disp", b"decal",
                b"refl", b"map_pr", b"map_pm", b"map_ps", b"map_ke", b"norm", b"map_kn", b"map_refl"}  # fmt: skip
OPTION_ARGS = {"-o": 3, "-s": 3, "-t": 3, "-bm": 1, "-boost": 1, "-mm": 2, "-texres": 1, "-clamp": 1, "-blendu": 1,
               "-blendv": 1, "-cc": 1, "-imfchan": 1, "-type": 1}  # fmt: skip


@dataclass(frozen=True)
class Bundle:
    """A model and the files it names, each at its place under ``root``."""

    root: Path
    model: str
    """The model's path under ``root`` (POSIX)."""
    files: tuple[tuple[str, int, str], ...]
    """(path under ``root``, size, sha256) of every file, the model's included, in name order."""

    @property
    def id(self) -> str:
        """The digest of the bundle's contents and layout: two copies of one model share it."""
        return hashlib.sha256(json.dumps([self.model, self.files]).encode()).hexdigest()

    def manifest(self) -> dict:
        return {"model": self.model, "files": {rel: [size, sha] for rel, size, sha in self.files}}


def find_bundle(model: Path, root: Path) -> Bundle:
    """The bundle of ``model`` (a file under ``root``); ``UserError`` when the model cannot be read."""
    model, root = Path(model).absolute(), Path(root).resolve()
    try:
        real = model.resolve(strict=True)
        if not real.is_file():
            raise OSError("not a file")
        if not real.is_relative_to(root):  # a link out of the collection: never carried into a job
            raise UserError(f"{model} is a link to a file outside the collection ({root}); it is not carried")
        found = [real, *references(real, root)]  # as Blender's importer is given it: the real file
    except OSError as exc:
        raise UserError(f"{model} cannot be read ({exc.strerror or exc})") from None
    try:
        base = Path(os.path.commonpath([str(p.parent) for p in found]))
        files = []
        for path in sorted(set(found)):
            files.append((path.relative_to(base).as_posix(), path.stat().st_size, sha256_of(path)))
    except OSError as exc:  # a name too long, a file gone since: this model fails alone
        raise UserError(f"{model.name} or a file it names cannot be read ({exc.strerror or 'error'})") from None
    return Bundle(base, real.relative_to(base).as_posix(), tuple(sorted(files)))


def references(model: Path, root: Path) -> list[Path]:
    """The files under ``root`` that ``model`` names, directly or through its material libraries."""
    suffix = model.suffix.lower()
    if suffix == ".obj":
        libraries = list(dict.fromkeys(_existing(model.parent, _mtllib_names(model), root)))
        textures, budget = [], MAX_MTL_BYTES
        for lib in libraries:
            budget -= lib.stat().st_size
            if budget < 0:  # material libraries larger than any model's, in all: the rest are not read
                break
            textures += _existing(lib.parent, _texture_names(lib), root)
        return _bounded(libraries + textures)
    if suffix in (".gltf", ".glb"):
        return _bounded(_existing(model.parent, _gltf_uris(model), root))
    return []


def _bounded(paths: list[Path]) -> list[Path]:
    unique = list(dict.fromkeys(paths))
    return unique[:MAX_REFERENCES]


def _existing(folder: Path, names: list[list[str]], root: Path) -> list[Path]:
    """For each reference (its candidate names, in the importer's order), the first that is a regular file
    under ``root``."""
    found = []
    for candidates in names[:MAX_REFERENCES]:
        for name in candidates:
            if not name or "\0" in name or PurePosixPath(name).is_absolute() or Path(name).is_absolute():
                continue
            # Stored where the importer looks (the name as written, a link's own name); read through a link
            # only when its target lies in the collection too
            path = Path(os.path.normpath(folder / name))
            try:
                real = path.resolve()
                if path.is_relative_to(root) and real.is_relative_to(root) and real.is_file() and path.stat():
                    found.append(path)
                    break
            except (OSError, RuntimeError, ValueError):  # a name too long or a loop: no file the importer opens
                continue
    return found


def _lines(path: Path, limit: int):
    """The file's lines up to ``limit`` bytes, one at a time (a model may be larger than memory likes)."""
    read = 0
    with open(path, "rb") as f:
        while read < limit:
            line = f.readline(1 << 16)  # a file without newlines is read in pieces, never whole
            if not line:
                return
            read += len(line)
            yield line


MTLLIB = re.compile(rb"^[ \t]*mtllib[ \t]+([^\r\n]{1,4096})", re.MULTILINE | re.IGNORECASE)


def _mtllib_names(obj: Path) -> list[list[str]]:
    """The whole rest of each ``mtllib`` line, then each of its words; scanned a megabyte at a time (a model's
    millions of vertex lines are not split into Python lines), at most ``MAX_REFERENCES`` names."""
    names: list[list[str]] = []
    tail, read = b"", 0
    with open(obj, "rb") as f:
        while read < MAX_SCAN_BYTES and len(names) < MAX_REFERENCES:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            read += len(chunk)
            text = tail + chunk
            cut = text.rfind(b"\n") + 1  # whole lines only; the rest waits for the next chunk
            text, tail = (text[:cut], text[cut:][-8192:]) if cut else (b"", text[-8192:])
            for m in MTLLIB.finditer(text):
                rest = m[1].decode("utf-8", "replace").strip()
                names.append([rest])
                names += [[word] for word in rest.split()[:16]] if " " in rest else []
        if tail and len(names) < MAX_REFERENCES:
            names += [[m[1].decode("utf-8", "replace").strip()] for m in MTLLIB.finditer(tail)]
    return names[:MAX_REFERENCES]


def _texture_names(mtl: Path) -> list[list[str]]:
    names: list[list[str]] = []
    for line in _lines(mtl, MAX_SIDE_BYTES):
        if len(names) >= MAX_REFERENCES:
            break
        words = line.strip().split(None, 1)
        if len(words) == 2 and words[0].lower() in TEXTURE_KEYS:
            path = _after_options(words[1].decode("utf-8", "replace").split())
            if path:
                path = path.strip('"')
                names.append([path, path.replace("_", " "), PurePosixPath(path.replace("\\", "/")).name])
    return names


def _after_options(words: list[str]) -> str:
    """The file name after a texture map's options (``-s 1 1 1 -bm 0.5 wood.png``); the last word stays."""
    i = 0
    while i < len(words) - 1 and words[i] in OPTION_ARGS:
        arguments = OPTION_ARGS[words[i]]
        i += 1
        while arguments and i < len(words) - 1 and _an_argument(words[i]):
            i, arguments = i + 1, arguments - 1
    return " ".join(words[i:])


def _an_argument(word: str) -> bool:
    try:
        float(word)
        return True
    except ValueError:
        return word in ("on", "off", "r", "g", "b", "m", "l", "z", "sphere") or word.startswith("cube_")


def _gltf_uris(path: Path) -> list[list[str]]:
    try:
        doc = json.loads(_gltf_json(path))
    except (ValueError, RecursionError, UnicodeDecodeError):
        return []  # the importer says what is wrong with it
    uris = []
    for key in ("buffers", "images"):
        items = doc.get(key) if isinstance(doc, dict) else None
        for item in items if isinstance(items, list) else []:
            uri = item.get("uri") if isinstance(item, dict) else None
            if isinstance(uri, str) and not uri.startswith("data:") and "://" not in uri:
                uris.append([unquote(uri)])
    return uris


def _gltf_json(path: Path) -> bytes:
    with open(path, "rb") as f:
        if path.suffix.lower() == ".gltf":
            return f.read(MAX_SIDE_BYTES)
        head = f.read(20)
        if len(head) < 20 or head[:4] != b"glTF":
            return b""
        length, kind = struct.unpack("<I4s", head[12:20])
        return f.read(min(length, MAX_SIDE_BYTES)) if kind == b"JSON" else b""
