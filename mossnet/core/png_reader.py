"""Reading a plain PNG a band of rows at a time: a row source (``mossnet.core.rows``) for the
tiling driver, so an input is never held whole.

Pillow decodes a whole image into four bytes a pixel (8.3 MB for 1920x1080, then 6.2 MB as an
array) and the tiles need only a tile row and its halo at a time. Here zlib-ng inflates the
IDAT stream ``BAND_BYTES`` of rows at a time and Pillow's own PNG decoder reconstructs them
(``Image.frombytes(..., "zip")``: its filters, in C): the band goes to it as a stored zlib
stream behind the band's previous row, unfiltered, which is the row its first row's filters
look up to. Each pass (``window()``) decodes from the start of the file again: the driver reads
the input twice (thumbnail, tiles), which costs about what Pillow's one decode of the whole did.

Only what this decodes exactly as Pillow and ``load_image`` would is taken (``open_rows``):
8-bit RGB or grey, not interlaced, one frame, no EXIF or XMP that could rotate it; anything
else (or anything odd in the chunks) gets ``None`` and goes through Pillow whole."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from zlib_ng import zlib_ng

from mossnet.core.errors import ImageError, one_line
from mossnet.core.rows import BandWindow

BAND_BYTES = 1 << 16  # rows decoded at a time: about this many bytes, whatever the width
READ_BYTES = 1 << 16  # compressed bytes read at a time (an IDAT chunk may be the whole image)
SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODES = {0: "L", 2: "RGB"}  # colour type -> Pillow mode, at 8 bits
CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}  # PLTE in an RGB file is only a suggestion
REFUSED = {b"eXIf", b"acTL", b"fcTL", b"fdAT"}  # orientation, animation: Pillow's path
ROTATING_TEXT = (b"Raw profile type exif", b"XML:com.adobe.xmp")  # keys Pillow reads orientation from


class PNGRows:
    """An 8-bit RGB or grey PNG as a row source: ``shape``, ``grayscale``, ``window()``."""

    def __init__(self, path: Path, width: int, height: int, mode: str, idat: int):
        self.path, self.mode, self._idat = path, mode, idat
        self.shape = (height, width, 3)
        self.grayscale = mode == "L"

    def window(self, largest: int = 0) -> BandWindow:
        return BandWindow(self.bands(), largest)

    def bands(self, band_bytes: int = BAND_BYTES):
        """``(y0, rows x W x 3 uint8)`` from the top, decoded as they are asked for."""
        h, w = self.shape[:2]
        stride = w * (3 if self.mode == "RGB" else 1) + 1  # a filter byte, then the samples
        rows = max(1, band_bytes // stride)
        with open(self.path, "rb") as f:
            compressed = _idat_data(f, self._idat)
            inflate = zlib_ng.decompressobj()
            prev = bytes(stride)  # the row above the first: zeros, unfiltered
            for y in range(0, h, rows):
                k = min(rows, h - y)
                try:
                    data = _inflate(inflate, compressed, k * stride)
                    img = Image.frombytes(self.mode, (w, k + 1), zlib.compress(prev + data, 0), "zip", self.mode)
                except (ValueError, OSError, EOFError, zlib_ng.error) as exc:  # zlib's, Pillow's filter decoder's
                    raise ImageError(f"{self.path}: unreadable or truncated image (rows {y}..{y + k}: "
                                     f"{one_line(exc)})") from None
                band = np.asarray(img)[1:]
                prev = b"\0" + band[-1].tobytes()
                yield y, (band if self.mode == "RGB" else np.repeat(band[..., None], 3, axis=2))


def _idat_data(f, offset: int):
    """The bytes of consecutive IDAT chunks from ``offset`` (a chunk's start), a piece at a time."""
    f.seek(offset)
    while True:
        head = f.read(8)
        if len(head) < 8:
            return
        length, kind = struct.unpack(">I4s", head)
        if kind != b"IDAT":
            return
        while length:
            piece = f.read(min(length, READ_BYTES))
            if not piece:
                return
            length -= len(piece)
            yield piece
        f.read(4)  # CRC: Pillow does not check IDAT's either


def _inflate(inflate, compressed, n: int) -> bytes:
    """The next ``n`` bytes of the image data."""
    parts, got = [], 0
    while got < n:
        data = None if inflate.eof else (inflate.unconsumed_tail or next(compressed, None))
        if not data:
            raise EOFError("image file is truncated: the image data ends early")
        out = inflate.decompress(data, n - got)
        parts.append(out)
        got += len(out)
    return b"".join(parts)


def open_rows(path: str | Path) -> PNGRows | None:
    """A ``PNGRows`` for a PNG that it decodes exactly as Pillow would, else None. Reads the
    chunk headers only (and the keys of text chunks)."""
    path = Path(path)
    with open(path, "rb") as f:
        if f.read(8) != SIGNATURE:
            return None
        ihdr, idat = None, None
        while True:
            head = f.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            start = f.tell()
            if ihdr is None:
                if kind != b"IHDR" or length != 13:
                    return None
                ihdr = struct.unpack(">IIBBBBB", f.read(13))
            elif kind == b"IEND":
                break
            elif kind == b"IDAT":
                if idat is None:
                    idat = start - 8
            elif idat is not None:
                return None  # Pillow reads chunks after the image data at load: keep it simple
            elif kind in REFUSED or (kind[:1].isupper() and kind not in CRITICAL):
                return None
            elif kind in (b"tEXt", b"zTXt", b"iTXt") and f.read(min(length, 80)).split(b"\0")[0] in ROTATING_TEXT:
                return None
            f.seek(start + length + 4)
    width, height, depth, colour, _, _, interlace = ihdr
    if depth != 8 or colour not in MODES or interlace or idat is None or width < 1 or height < 1:
        return None
    return PNGRows(path, width, height, MODES[colour], idat)
