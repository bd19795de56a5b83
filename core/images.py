"""Cheap checks of rendered files, with no image library (Blender's Python has none)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the PNG header, or None when the file is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def png_complete(path: Path, width: int, height: int) -> bool:
    """True for a PNG of the right size that was written to its end (a crash leaves no IEND chunk)."""
    path = Path(path)
    try:
        if path.stat().st_size < len(PNG_SIGNATURE) + 25 + len(PNG_END) or png_size(path) != (width, height):
            return False
        with open(path, "rb") as f:
            f.seek(-len(PNG_END), 2)
            return f.read() == PNG_END
    except OSError:
        return False


# Blender stamps the date and render times into every PNG; dropping them makes a re-render byte-identical.
VOLATILE_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def publish_png(src: Path, dst: Path) -> None:
    """Move a rendered PNG to ``dst`` without its text/time chunks (no re-encoding), atomically."""
    data = Path(src).read_bytes()
    if data[:8] != PNG_SIGNATURE:
        raise ValueError(f"{src} is not a PNG")
    out, pos = [PNG_SIGNATURE], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        if data[pos + 4 : pos + 8] not in VOLATILE_CHUNKS:
            out.append(data[pos:end])
        pos = end
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.write_bytes(b"".join(out))
    os.replace(tmp, dst)
    Path(src).unlink()
