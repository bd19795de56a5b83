"""Cheap checks of rendered PNGs with the standard library only (resume decodes every image; no pixels needed),
and images' sizes and pixels as ``validate`` reads anyone's files (``core.untrusted``, Pillow)."""

from __future__ import annotations

import struct
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

from .files import write_bytes_atomic
from .untrusted import Unreadable, open_regular

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
MAX_ANY_PNG = 256 << 20


# Samples per pixel of each PNG colour type (grey, RGB, palette, grey+alpha, RGBA).
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def png_complete(path: Path, width: int | None, height: int | None) -> bool:
    """True for a PNG of the right size that decodes fully: every chunk's CRC holds, the image data
    inflates to exactly one filtered row per line, and the file ends with IEND (a crash leaves none).
    ``width`` None: any size."""
    if not Path(path).is_file():  # a FIFO or device named like an image must not block or stream forever
        return False
    try:
        limit = MAX_ANY_PNG if width is None else width * height * 8 + (1 << 20)
        with open(path, "rb") as f:  # bounded: a PNG of w x h is never larger than its raw pixels and some
            data = f.read(limit + 1)
    except OSError:
        return False
    if len(data) > limit or data[:8] != PNG_SIGNATURE or not data.endswith(PNG_END):
        return False
    pos, header, idat = 8, None, []
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4 or zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            return False
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    if header is None or header[6] != 0 or header[3] not in PNG_CHANNELS:
        return False
    if width is None:
        width, height = header[:2]
    if header[:2] != (width, height):
        return False  # header[6] = interlace: Blender writes none, and the row arithmetic below assumes none
    bits_per_pixel = header[2] * PNG_CHANNELS[header[3]]
    row_bytes = 1 + (width * bits_per_pixel + 7) // 8
    try:
        return len(zlib.decompress(b"".join(idat))) == row_bytes * height
    except zlib.error:
        return False


# Blender stamps the date and render times into every PNG; dropping them makes a re-render byte-identical.
VOLATILE_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def publish_png(src: Path, dst: Path) -> None:
    """Move a rendered PNG to ``dst`` without its text/time chunks (no re-encoding), atomically."""
    data = Path(src).read_bytes()
    if data[:8] != PNG_SIGNATURE:
        raise ValueError(f"{src} is not a PNG")
    out, pos, kind = [PNG_SIGNATURE], 8, b""
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end, kind = pos + 12 + length, data[pos + 4 : pos + 8]
        if kind not in VOLATILE_CHUNKS:
            out.append(data[pos:end])
        pos = end
    if kind != b"IEND" or pos != len(data):  # Blender's write was cut off (a full disk, a file-size limit)
        raise ValueError(f"{src} is cut short")
    write_bytes_atomic(dst, b"".join(out))
    Path(src).unlink()


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height), or None if unreadable (``read_image_size``)."""
    try:
        return read_image_size(path)
    except Unreadable:
        return None


def read_image_size(path: Path, folder: Path | None = None) -> tuple[int, int]:
    """(width, height) from a PNG's header, or from Pillow's reading of other formats' headers; for a regular
    file only (inside ``folder`` when given), no pixels decoded. Raises ``Unreadable``."""
    with open_regular(path, folder) as f, _unreadable_image():
        head = f.read(24)
        if head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        from PIL import Image

        f.seek(0)
        with Image.open(f) as image:
            return image.size


# Pixels decoded at most (Pillow's own decompression-bomb threshold): a header may promise any size.
MAX_DECODED_PIXELS = 89_478_485


def read_channel(path: Path, folder: Path | None = None, alpha: bool = False):
    """(size, uint8 array (h, w)) of a regular file's image (inside ``folder`` when given): its alpha channel
    (None when it has none), or without ``alpha`` its grey levels. Raises ``Unreadable``."""
    import numpy as np
    from PIL import Image

    with open_regular(path, folder) as f, _unreadable_image(), Image.open(f) as image:
        if image.size[0] * image.size[1] > MAX_DECODED_PIXELS:
            raise Unreadable(f"is {image.size[0]}x{image.size[1]}: more pixels than validate decodes")
        if not alpha:
            return image.size, np.asarray(image.convert("L"))
        return image.size, (np.asarray(image.getchannel("A")) if image.mode in ("RGBA", "LA") else None)


def read_png_rgba(path: Path, size: tuple[int, int], folder: Path | None = None):
    """uint8 (h, w, 4) of a regular file's image (inside ``folder`` when given) that must be ``size``
    (width, height); the size is checked before any pixel is decoded. Raises ``Unreadable``."""
    import numpy as np
    from PIL import Image

    with open_regular(path, folder) as f, _unreadable_image(), Image.open(f) as image:
        if tuple(image.size) != tuple(size):
            raise Unreadable(f"is {image.size[0]}x{image.size[1]}, not {size[0]}x{size[1]}")
        if image.size[0] * image.size[1] > MAX_DECODED_PIXELS:
            raise Unreadable(f"is {image.size[0]}x{image.size[1]}: more pixels than are decoded")
        return np.asarray(image.convert("RGBA"))


@contextmanager
def _unreadable_image():
    """Whatever a damaged or hostile file makes Pillow raise (it has no one exception) means the same to us,
    and its warnings (decompression bombs, palettes) are not for the user's terminal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except Unreadable:
            raise
        except Exception:  # noqa: BLE001 - see above
            raise Unreadable("is not a readable image") from None


EXR_MAGIC = b"\x76\x2f\x31\x01"
# Scanlines per chunk of each OpenEXR compression (the order of its enum).
EXR_LINES_PER_CHUNK = (1, 1, 1, 16, 32, 16, 32, 32, 32, 256)


def exr_complete(path: Path, width: int, height: int) -> bool:
    """True for a scanline OpenEXR of the right size whose every chunk lies whole inside the file: a render
    cut short by a full disk or a kill leaves offsets past the end (and Blender crashes reading such a file).
    The header and offset table are read; the pixels are not decompressed."""
    if not Path(path).is_file():
        return False
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            head = f.read(min(size, 1 << 16))
            if head[:4] != EXR_MAGIC or head[5] & 0x16:  # tiled, deep or multi-part: not what we write
                return False
            pos, window, compression = 8, None, None
            while head[pos : pos + 1] not in (b"\x00", b""):
                name_end = head.index(b"\x00", pos)
                type_end = head.index(b"\x00", name_end + 1)
                (length,) = struct.unpack("<i", head[type_end + 1 : type_end + 5])
                value = head[type_end + 5 : type_end + 5 + length]
                name = head[pos:name_end]
                if name == b"dataWindow":
                    window = struct.unpack("<4i", value)
                elif name == b"compression":
                    compression = value[0]
                pos = type_end + 5 + length
            if window is None or compression is None or compression >= len(EXR_LINES_PER_CHUNK):
                return False
            w, h = window[2] - window[0] + 1, window[3] - window[1] + 1
            chunks = -(-h // EXR_LINES_PER_CHUNK[compression])
            f.seek(pos + 1)
            table = f.read(8 * chunks)
            if (w, h) != (width, height) or len(table) != 8 * chunks:
                return False
            table_end = pos + 1 + 8 * chunks
            lines = EXR_LINES_PER_CHUNK[compression]
            for i, offset in enumerate(struct.unpack(f"<{chunks}Q", table)):
                # An unfinished file keeps OpenEXR's zeroed table or chunks that stop short.
                f.seek(offset)
                chunk = f.read(8)
                if offset < table_end or len(chunk) != 8:
                    return False
                y, length = struct.unpack("<ii", chunk)
                if y != window[1] + i * lines or length < 0 or offset + 8 + length > size:
                    return False
            return True
    except (OSError, ValueError, IndexError, struct.error):
        return False
