"""Image rows read in order: what the tiling driver needs from its input.

The driver reads rows top to bottom, twice: once for the thumbnail (bins of rows), once for the
tiles (one tile row plus its halo at a time). A *row source* is anything with ``shape``
(H, W, 3) and ``window(largest=0)``, which starts a pass (``largest``: the most rows one
request will ask for, 0 if unknown) and returns an object whose ``rows(lo, hi)``
gives rows ``lo..hi`` as an (hi - lo, W, 3) uint8 array, with ``lo`` and ``hi`` never
decreasing within a pass. An array is one (``ArrayRows``: views, nothing copied); a decoder
that produces bands of rows is another (``BandWindow``: only the rows a request still
reaches are held), so a large input need never be held whole (``mossnet.core.png_reader``).
The rows a window gives are valid until its next request (a window may reuse its memory)."""
from __future__ import annotations

from typing import Iterator

import numpy as np


class ArrayRows:
    """An HxWx3 array as a row source: every window is the array itself."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self.shape = image.shape

    def window(self, largest: int = 0) -> "ArrayRows":
        return self

    def rows(self, lo: int, hi: int) -> np.ndarray:
        return self.image[lo:hi]


class BandWindow:
    """One pass over bands ``(y0, rows)`` that arrive in order and cover the image, copied into
    one buffer reused for every request: it holds the rows from the last request's first row to
    the end of the last band read, and grows only when a request needs more. A request's rows
    are a view of that buffer, valid until the next request. (Concatenating the held bands anew
    for each tile row kept the old rows, the new bands and their copy alive at once, about
    1.3 MB for a 1920-pixel-wide input by count, at the start of a tile row: where an RSS time
    series of the ExecuTorch int8 command's 8K job put its peak, the output strip being full.)

    ``largest``: the most rows one request will ask for, where the caller knows it (the tiling
    driver does: a tile's rows and halo). The buffer is then made that large at once. Sized by
    the first request alone, which is clamped at the image's top, it grew once at the second
    tile row and left the first buffer as a hole in the C heap, about 0.5 MB for a 1920-pixel-wide
    input (the ExecuTorch fp32 command's 8K job peaked 0.2 MB higher, median of 5 by hand)."""

    def __init__(self, bands: Iterator[tuple[int, np.ndarray]], largest: int = 0):
        self._bands = bands
        self._largest = largest
        self._buffer: np.ndarray | None = None
        self._y0 = 0  # the image row of the buffer's first row
        self._filled = 0  # rows of the buffer that hold image rows
        self._lo = 0

    def rows(self, lo: int, hi: int) -> np.ndarray:
        if lo < self._lo:
            raise ValueError(f"rows {lo}..{hi} requested after row {self._lo}: a window only moves down")
        self._lo = lo
        drop = min(max(0, lo - self._y0), self._filled)  # rows above lo: no request reaches them again
        if drop:
            keep = self._filled - drop
            self._buffer[:keep] = self._buffer[drop:self._filled]
            self._y0, self._filled = self._y0 + drop, keep
        while self._y0 + self._filled < hi:
            nxt = next(self._bands, None)
            if nxt is None:
                raise ValueError(f"the image's rows ended at {self._y0 + self._filled}, before row {hi}")
            y, band = nxt
            skip = min(max(0, lo - y), len(band))  # rows a request went past without reading
            if not self._filled:
                self._y0 = y + skip
            self._append(band[skip:], hi - lo)
        return self._buffer[lo - self._y0:hi - self._y0]

    def _append(self, band: np.ndarray, request: int) -> None:
        end = self._filled + len(band)
        if self._buffer is None or len(self._buffer) < end:
            grown = np.empty((max(end, max(request, self._largest) + len(band)), *band.shape[1:]), np.uint8)
            if self._filled:
                grown[:self._filled] = self._buffer[:self._filled]
            self._buffer = grown
        self._buffer[self._filled:end] = band
        self._filled = end


def as_rows(image):
    """An array or a row source, as a row source."""
    return ArrayRows(image) if isinstance(image, np.ndarray) else image
