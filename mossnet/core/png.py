"""A streaming PNG writer: an ``out=`` sink for ``Upscaler.upscale_rgb`` / ``upscale_tiled``.

Tiles arrive in row-major order and every tile of one row owns the same full-width output
rows, so the writer keeps one strip (one tile row) and, when the next row starts, filters it,
feeds it to one zlib stream and writes what zlib hands back as IDAT chunks. An 8K output is
never held whole: the writer holds one strip. With ``background`` the strip before it is
encoded in a thread while the next one fills; both live in page buffers (``mossnet.core.pages``)
whose rows go back to the system as soon as they are compressed, and the new strip's pages
become resident only as tiles arrive. A tile of the new strip waits until the encoder has
handed back as large a share of the old one, so the two together stay close to one strip
even when the encoder is the slower (the ExecuTorch int8 command's 8K job, measured by hand
with ``mossnet.tools.e2e``'s memory runs: 58.6 MB peak against 60.0 without the wait; the
wait cost 2 to 5 % of the 4K job's wall time). Once per strip the writer also hands the C
heap's free holes back (``pages.trim_heap``).

Filter and deflate settings were chosen by measurement (``python -m mossnet.tools.png_bench``,
on 3840x2160 upscaled photos; the table is in the README). Deflate is ISA-L's (``isal`` on
PyPI, level 2: the same zlib stream format, from SIMD code written for throughput). With
the filter, the writer takes about 70 % of the time it took with zlib-ng's level 1 and
``Z_RLE`` (the default before; the deflate alone, well under half), for files 3 % smaller on
the benchmark's photo; the stdlib's zlib is slower than both. That time matters on two CPUs:
the encoder thread shares them with the tiles. The filter is a speed/size trade: on that
photo, with ISA-L, the vectorized *Paeth* filter gives the smallest files but takes about twice
the time of *Average* (the default, computed in uint8; 0.35 against 0.17 s, for files 2 %
smaller), and *Sub* and *Up* are faster still, for files 7 to 10 % larger. Every filter of the PNG spec is implemented
(encoding needs only the raw neighbours, never reconstructed ones), so the choice stays
measurable.

Modes: ``RGB``, ``L`` (made from the RGB strips exactly as Pillow's ``convert("L")`` makes
it, by Pillow itself), ``RGBA`` and ``LA`` (the alpha plane is given whole or as anything that
slices ``alpha[y0:y1]``, HxW uint8). Output decodes, with Pillow or any PNG reader, to exactly
the pixels given."""
from __future__ import annotations

import struct
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

import numpy as np
from isal import isal_zlib
from PIL import Image
from zlib_ng import zlib_ng

from mossnet.core.pages import PageBuffer, trim_heap

# The same stream format from each; the others are kept for comparison (png_bench). Levels are
# each library's own: ISA-L has 0 to 3 and one strategy (others warn and fall back to it).
DEFLATE = {"isal": isal_zlib, "zlib-ng": zlib_ng, "zlib": zlib}
FILTERS = {"none": 0, "sub": 1, "up": 2, "average": 3, "paeth": 4}
DEFAULT_DEFLATE = "isal"
DEFAULT_FILTER = "average"
DEFAULT_LEVEL = 2
DEFAULT_STRATEGY = zlib.Z_DEFAULT_STRATEGY  # the same value in every library
COLOR_TYPES = {"L": (0, 1), "RGB": (2, 3), "LA": (4, 2), "RGBA": (6, 4)}  # mode -> (PNG colour type, channels)
SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_BYTES = 1 << 17  # raw bytes filtered (and, in the background, handed back) at a time


def chunk_frame(kind: bytes, body: bytes | memoryview) -> tuple[bytes, bytes]:
    """What goes before a chunk's body (length, type) and after it (CRC)."""
    return struct.pack(">I", len(body)) + kind, struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def chunk(kind: bytes, body: bytes | memoryview) -> bytes:
    head, crc = chunk_frame(kind, body)
    return head + bytes(body) + crc


def write_chunk(file: BinaryIO, kind: bytes, body: bytes) -> None:
    """``chunk`` written in three pieces: the compressed body is not copied."""
    head, crc = chunk_frame(kind, body)
    file.write(head)
    file.write(body)
    file.write(crc)


def filter_rows(rows: np.ndarray, prev: np.ndarray | None, bpp: int, kind: str,
                out: np.ndarray | None = None, scratch: np.ndarray | None = None) -> np.ndarray:
    """(r, n) uint8 raw scanlines (``prev``: the scanline above the first, None at the top)
    -> (r, 1 + n) filtered scanlines with their filter-type byte. ``out`` (at least r rows of
    1 + n) and ``scratch`` (at least r rows of n) are uint8 buffers to reuse: the streaming
    writer filters every chunk of an image in the same two, so the Average filter allocates
    nothing per chunk."""
    r, n = rows.shape
    out = np.empty((r, n + 1), np.uint8) if out is None else out[:r]
    out[:, 0] = FILTERS[kind]
    body = out[:, 1:]
    if kind == "none":
        body[:] = rows
        return out
    if kind == "up":
        above = np.empty_like(rows)
        above[0] = 0 if prev is None else prev
        above[1:] = rows[:-1]
        np.subtract(rows, above, out=body)
        return out
    if kind == "sub":
        body[:, :bpp] = rows[:, :bpp]
        np.subtract(rows[:, bpp:], rows[:, :-bpp], out=body[:, bpp:])
        return out
    if kind == "average":
        # floor((left + above) / 2) in uint8, without the sum's ninth bit:
        # (left >> 1) + (above >> 1) + (left & above & 1); left is 0 in the first pixel
        body[0] = 0 if prev is None else prev  # the row above each row, shifted right once
        body[1:] = rows[:-1]
        carry = np.bitwise_and(rows[:, :-bpp], body[:, bpp:],
                               out=None if scratch is None else scratch[:r, :n - bpp])
        body >>= 1
        carry &= 1
        body[:, bpp:] += carry
        body[:, bpp:] += np.right_shift(rows[:, :-bpp], 1, out=carry)
        np.subtract(rows, body, out=body)  # modulo 256, as the filter is defined
        return out
    b = np.empty((r, n), np.int16)  # above
    b[0] = 0 if prev is None else prev
    b[1:] = rows[:-1]
    a = np.zeros((r, n), np.int16)  # left
    a[:, bpp:] = rows[:, :-bpp]
    c = np.zeros((r, n), np.int16)  # upper left
    c[:, bpp:] = b[:, :-bpp]
    da, db = a - c, b - c
    pc = np.abs(da + db)
    pa, pb = np.abs(db, out=db), np.abs(da, out=da)
    pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    np.subtract(rows, pred.astype(np.uint8), out=body)
    return out


class PNGStripWriter:
    """``writer[y0:y1, x0:x1] = block`` (HxWx3 uint8 RGB blocks, rows in order), then
    ``close()``; or use it as a context manager. ``file`` is a binary file object (left open)."""

    def __init__(self, file: BinaryIO, height: int, width: int, mode: str = "RGB", alpha=None,
                 level: int = DEFAULT_LEVEL, filter: str = DEFAULT_FILTER, strategy: int = DEFAULT_STRATEGY,
                 background: bool = False, deflate: str = DEFAULT_DEFLATE):
        if mode not in COLOR_TYPES:
            raise ValueError(f"PNG mode must be one of {', '.join(COLOR_TYPES)}, not {mode!r}")
        if (alpha is not None) != mode.endswith("A"):
            raise ValueError(f"mode {mode} {'needs' if alpha is None else 'takes no'} alpha plane")
        if deflate not in DEFLATE:
            raise ValueError(f"deflate must be one of {', '.join(DEFLATE)}, not {deflate!r}")
        if filter not in FILTERS:
            raise ValueError(f"PNG filter must be one of {', '.join(FILTERS)}, not {filter!r}")
        if height < 1 or width < 1 or height >= 2 ** 31 or width >= 2 ** 31:
            raise ValueError(f"PNG size {width}x{height} out of range")
        self.height, self.width, self.mode, self.alpha, self.filter = height, width, mode, alpha, filter
        self.color_type, self.channels = COLOR_TYPES[mode]
        self._file = file
        self._z = DEFLATE[deflate].compressobj(level, zlib.DEFLATED, 15, 9, strategy)
        self._prev: np.ndarray | None = None
        self._filter_buffers: tuple[np.ndarray, np.ndarray] | None = None  # (out, scratch), made once
        self._rows: tuple[int, int] | None = None
        self._strip: np.ndarray | None = None
        self.rows_written = 0  # rows handed to the encoder
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="png") if background else None
        self._buffers: list[PageBuffer | None] = [None, None]  # background: strips alternate between two
        self._buffer: PageBuffer | None = None  # the current strip's
        self._pending: Future | None = None
        self._encoded = 1.0  # the share of the strip in flight that is compressed (and handed back)
        self._progress = threading.Condition()
        self._closed = False
        file.write(SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, self.color_type, 0, 0, 0)))

    # -- the sink ------------------------------------------------------------------------------
    def __setitem__(self, key, block: np.ndarray) -> None:
        ys, xs = key
        rows = (ys.start or 0, self.height if ys.stop is None else ys.stop)
        if rows != self._rows:
            self._flush()
            if rows[0] != self.rows_written or not rows[0] < rows[1] <= self.height:
                raise ValueError(f"rows {rows[0]}..{rows[1]} arrived out of order "
                                 f"(next expected {self.rows_written}, height {self.height})")
            self._rows = rows
            shape = (rows[1] - rows[0], self.width, 3)
            if self._pool is not None:
                self._strip = self._next_buffer(shape[0] * self.width * 3).array(shape)
            elif self._strip is None or self._strip.shape != shape:
                self._strip = np.empty(shape, np.uint8)
        if self._pending is not None:
            self._keep_pace(self.width if xs.stop is None else xs.stop)
        self._strip[:, xs] = block

    def _keep_pace(self, filled_to: int) -> None:
        """Wait until the encoder has handed back as large a share of the strip before as this
        block fills of the new one: the two strips together stay within about one strip of
        resident memory even when the encoder is the slower (measured: an 8K output's strips
        compress in about the time their tiles take, and without this both were resident)."""
        share = filled_to / self.width
        with self._progress:
            self._progress.wait_for(lambda: self._encoded >= share)

    def write_rows(self, y0: int, rgb: np.ndarray) -> None:
        """Append whole rows (r x width x 3) starting at ``y0``: a full-width strip at once."""
        self[y0:y0 + rgb.shape[0], 0:self.width] = rgb

    def _next_buffer(self, nbytes: int) -> PageBuffer:
        """The buffer not in flight (``_flush`` waited for the strip that used it)."""
        self._buffers.reverse()
        if self._buffers[0] is None or self._buffers[0].nbytes < nbytes:
            self._buffers[0] = PageBuffer(nbytes)
        self._buffer = self._buffers[0]
        return self._buffer

    def _flush(self) -> None:
        if self._rows is None:
            return
        y0, y1 = self._rows
        strip, buffer, self._rows = self._strip, self._buffer, None
        self.rows_written = y1
        trim_heap()  # once a strip: what the tiles of this one freed goes back now
        if self._pool is None:
            self._encode(y0, y1, strip)
            return
        if self._pending is not None:
            self._pending.result()  # at most one strip in flight: its buffer is free again
        self._encoded = 0.0
        self._pending = self._pool.submit(self._encode, y0, y1, strip, buffer)

    def _advance(self, share: float) -> None:
        with self._progress:
            self._encoded = share
            self._progress.notify()

    def _encode(self, y0: int, y1: int, strip: np.ndarray, buffer: PageBuffer | None = None) -> None:
        """Filter and compress one strip; a page buffer's rows go back as soon as they are used."""
        try:
            self._encode_rows(y0, y1, strip, buffer)
        finally:
            self._advance(1.0)  # done, or failed: the sink stops waiting (and ``_flush`` raises)

    def _encode_rows(self, y0: int, y1: int, strip: np.ndarray, buffer: PageBuffer | None) -> None:
        if self.mode in ("L", "LA"):
            pixels = np.asarray(Image.fromarray(strip, mode="RGB").convert("L"))[..., None]
        else:
            pixels = strip
        if self.alpha is not None:
            a = np.asarray(self.alpha[y0:y1], dtype=np.uint8)
            if a.shape != (y1 - y0, self.width):
                raise ValueError(f"alpha rows {y0}..{y1} have shape {a.shape}, expected {(y1 - y0, self.width)}")
            pixels = np.concatenate([pixels, a[..., None]], axis=2)
        raw = np.ascontiguousarray(pixels).reshape(y1 - y0, self.width * self.channels)
        in_place = buffer is not None and np.may_share_memory(raw, strip)
        if buffer is not None and not in_place:
            buffer.release_all()  # raw is a converted copy (L, alpha)
        step = max(1, FILTER_BYTES // raw.shape[1])  # the filters' int16 temporaries stay small
        if self._filter_buffers is None:
            n = raw.shape[1]
            self._filter_buffers = (np.empty((step, n + 1), np.uint8), np.empty((step, n), np.uint8))
        for i in range(0, raw.shape[0], step):
            end = min(i + step, raw.shape[0])
            data = self._z.compress(filter_rows(raw[i:end], self._prev, self.channels, self.filter,
                                                *self._filter_buffers))
            self._prev = raw[end - 1]
            if in_place:  # every row above the one the next rows filter against
                buffer.release_to((end - 1) * raw.shape[1])
            if data:
                write_chunk(self._file, b"IDAT", data)
            self._advance((end - 1) / raw.shape[0])
        self._prev = self._prev.copy()
        if in_place:
            buffer.release_all()

    def close(self) -> None:
        """Encode what is left, check every row arrived, write the end of the file."""
        if self._closed:
            return
        try:
            self._flush()
            if self._pending is not None:
                self._pending.result()
            if self.rows_written != self.height:
                raise ValueError(f"only {self.rows_written} of {self.height} rows were written")
            self._file.write(chunk(b"IDAT", self._z.flush()) + chunk(b"IEND", b""))
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            self._shutdown()


def write_png(file: BinaryIO, rgb: np.ndarray, alpha: np.ndarray | None = None, grayscale: bool = False,
              strip: int = 64, **options) -> None:
    """A whole HxWx3 image through the strip writer (tests, and images already in memory)."""
    h, w = rgb.shape[:2]
    mode = ("L" if grayscale else "RGB") + ("A" if alpha is not None else "")
    with PNGStripWriter(file, h, w, mode, alpha=alpha, **options) as writer:
        for y in range(0, h, strip):
            writer.write_rows(y, rgb[y:y + strip])
