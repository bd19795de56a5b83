"""Assets named by URL: downloaded with ``requests`` into a content-addressed cache, streamed and bounded.

``CACHE/blobs/<sha256>/<name>`` holds a body under its content's digest, ``CACHE/urls/<sha256 of the URL>.json``
says which body a URL gave; a second run finds it there and downloads nothing. A line's sha256, when given,
must match. Redirects are followed by hand, only to http(s). A ``.zip`` is unpacked beside its body, every
member checked: no absolute path, no ``..``, no link, the total within the size limit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

from ..core.collection import MODEL_EXTS, Asset
from ..core.errors import UserError
from ..core.files import sha256_of, write_json_atomic

MAX_REDIRECTS = 5
MAX_MEMBERS = 10_000
CHUNK = 1 << 16


@dataclass(frozen=True)
class FetchOptions:
    cache: Path
    max_bytes: int = 512 << 20
    retries: int = 3
    timeout: float = 30.0
    """Seconds to connect, and between two reads."""
    deadline: float = 600.0
    """Seconds one download may take in all: a server trickling a byte at a time never holds a batch."""


class FetchError(UserError):
    """A download that failed or was refused: the asset fails, the batch goes on."""


def download_asset(asset: Asset, opts: FetchOptions) -> Path:
    """The local model file for ``asset`` (a URL), from the cache or downloaded into it."""
    cache = Path(opts.cache).expanduser().absolute()
    known = cache / "urls" / f"{hashlib.sha256(asset.source.encode()).hexdigest()}.json"
    try:
        rec = json.loads(known.read_text())
        body = cache / "blobs" / rec["sha256"] / rec["name"]
        # a cache is content-addressed: a body that is not its address's (planted, damaged) is downloaded again
        if body.is_file() and asset.sha256 in (None, rec["sha256"]) and sha256_of(body) == rec["sha256"]:
            return _model_in(body, opts)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest, body = _download(asset, cache, opts)
    write_json_atomic(known, {"url": asset.shown, "sha256": digest, "name": body.name})
    return _model_in(body, opts)


def _session(opts: FetchOptions):
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    s = requests.Session()
    retry = Retry(total=opts.retries, backoff_factor=0.2, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=("GET",), redirect=False, raise_on_status=False)  # fmt: skip
    s.mount("http://", HTTPAdapter(max_retries=retry))
    s.mount("https://", HTTPAdapter(max_retries=retry))
    return s


def _download(asset: Asset, cache: Path, opts: FetchOptions) -> tuple[str, Path]:
    import requests

    url, shown = asset.source, asset.shown
    tmp_dir = cache / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    _drop_stale_parts(tmp_dir)
    tmp = tmp_dir / f"{os.getpid()}.part"
    try:
        with _session(opts) as s:
            for _ in range(MAX_REDIRECTS + 1):
                r = s.get(url, stream=True, timeout=(min(opts.timeout, 10.0), opts.timeout), allow_redirects=False)
                if not r.is_redirect:
                    break
                nxt = urljoin(url, r.headers.get("location", ""))
                r.close()
                if urlsplit(nxt).scheme not in ("http", "https"):
                    raise FetchError(
                        f"{shown} redirects to a {urlsplit(nxt).scheme or 'relative'} URL; only http(s) is followed"
                    )
                url = nxt
            else:
                raise FetchError(f"{shown} redirects more than {MAX_REDIRECTS} times")
            with r:
                if r.status_code != 200:
                    raise FetchError(f"{shown} answered HTTP {r.status_code}")
                digest = _stream(r, tmp, opts, shown)
    except requests.RequestException as exc:
        tmp.unlink(missing_ok=True)
        why = "timed out" if isinstance(exc, requests.Timeout) else f"failed ({type(exc).__name__})"
        raise FetchError(f"downloading {shown} {why}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if asset.sha256 is not None and digest != asset.sha256:
        tmp.unlink(missing_ok=True)
        raise FetchError(f"{shown} has sha256 {digest[:16]}…, not the {asset.sha256[:16]}… the list gives")
    name = _name(url)
    body = cache / "blobs" / digest / name
    body.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, body)
    return digest, body


def _stream(r, tmp: Path, opts: FetchOptions, url: str) -> str:
    limit, ends = opts.max_bytes, time.monotonic() + opts.deadline
    length = r.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise FetchError(f"{url} is {int(length) >> 20} MB, over the {limit >> 20} MB limit (--max-download-mb)")
    h, n = hashlib.sha256(), 0
    with open(tmp, "wb") as f:
        for chunk in r.iter_content(chunk_size=None):  # as it arrives: a trickle meets the deadline too
            n += len(chunk)
            if n > limit:
                raise FetchError(f"{url} sent more than the {limit >> 20} MB limit (--max-download-mb): cut off")
            if time.monotonic() > ends:
                raise FetchError(f"{url} took more than {opts.deadline:.0f} s to download: cut off")
            h.update(chunk)
            f.write(chunk)
    return h.hexdigest()


def _drop_stale_parts(tmp_dir: Path) -> None:
    """Parts left by a download whose process was killed (its pid is gone)."""
    for part in tmp_dir.glob("*.part"):
        try:
            os.kill(int(part.stem), 0)
        except ProcessLookupError:
            part.unlink(missing_ok=True)
        except (ValueError, PermissionError, OSError):
            continue


def _name(url: str) -> str:
    name = PurePosixPath(urlsplit(url).path).name
    clean = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "asset"
    return clean[:128]


def _model_in(body: Path, opts: FetchOptions) -> Path:
    if body.suffix.lower() != ".zip":
        if body.suffix.lower() not in MODEL_EXTS:
            raise FetchError(f"{body.name} is no model this tool imports ({', '.join(MODEL_EXTS)}) nor a .zip")
        return body
    folder = body.with_name(body.name + ".unpacked")
    if not folder.is_dir():
        _unzip(body, folder, opts.max_bytes)
    models = sorted(p for p in folder.rglob("*") if p.suffix.lower() in MODEL_EXTS and p.is_file())
    shapenet = [p for p in models if p.name == "model_normalized.obj"]
    if not models:
        raise FetchError(f"{body.name} holds no model ({', '.join(MODEL_EXTS)})")
    return (shapenet or models)[0]


def _unzip(body: Path, folder: Path, limit: int) -> None:
    tmp = folder.with_name(folder.name + f".{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(body) as z:
            members = z.infolist()
            if len(members) > MAX_MEMBERS:
                raise FetchError(f"{body.name} has {len(members)} members, more than {MAX_MEMBERS}")
            total = 0
            for m in members:
                path = PurePosixPath(m.filename)
                if (
                    m.filename.startswith("/")
                    or "\\" in m.filename
                    or ".." in path.parts
                    or re.match("[A-Za-z]:", m.filename)
                ):
                    raise FetchError(f"{body.name} has a member {m.filename!r} whose path escapes its folder")
                if stat.S_ISLNK(m.external_attr >> 16):
                    raise FetchError(f"{body.name} has a member {m.filename!r} that is a link")
                if m.is_dir():
                    continue
                target = tmp / path
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    dst = open(target, "wb")
                except OSError as exc:
                    raise FetchError(f"{body.name} cannot be unpacked: {m.filename!r} {exc.strerror}") from None
                with z.open(m) as src, dst:
                    while chunk := src.read(CHUNK):
                        total += len(chunk)
                        if total > limit:
                            raise FetchError(f"{body.name} unpacks to more than {limit >> 20} MB")
                        dst.write(chunk)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not folder.is_dir():  # another worker unpacked the same body first: theirs is as good
                raise
    except zipfile.BadZipFile:
        raise FetchError(f"{body.name} is not a readable zip") from None
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
