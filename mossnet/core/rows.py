"""Image rows read in order: what the tiling driver needs from its input.

The driver reads rows top to bottom, twice: once for the thumbnail (bins of rows), once for the
tiles (one tile row plus its halo at a time). A *row source* is anything with ``shape``
(H, W, 3) and ``window()``, which starts a pass and returns an object whose ``rows(lo, hi)``
gives rows ``lo..hi`` as an (hi - lo, W, 3) uint8 array, with ``lo`` and ``hi`` never
decreasing within a pass. An array is one (``ArrayRows``: views, nothing copied); a decoder
that produces bands of rows is another (``BandWindow``: only the bands a request still
reaches are held), so a large input need never be held whole (``mossnet.core.png_reader``)."""
from __future__ import annotations

from typing import Iterator

import numpy as np


class ArrayRows:
    """An HxWx3 array as a row source: every window is the array itself."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self.shape = image.shape

    def window(self) -> "ArrayRows":
        return self

    def rows(self, lo: int, hi: int) -> np.ndarray:
        return self.image[lo:hi]


class BandWindow:
    """One pass over bands ``(y0, rows)`` that arrive in order and cover the image: keeps the
    bands that the last request reached, no further back."""

    def __init__(self, bands: Iterator[tuple[int, np.ndarray]]):
        self._bands = bands
        self._held: list[tuple[int, np.ndarray]] = []
        self._end = 0  # rows produced so far
        self._lo = 0

    def rows(self, lo: int, hi: int) -> np.ndarray:
        if lo < self._lo:
            raise ValueError(f"rows {lo}..{hi} requested after row {self._lo}: a window only moves down")
        self._lo = lo
        self._held = [(y, b) for y, b in self._held if y + len(b) > lo]
        while self._end < hi:
            nxt = next(self._bands, None)
            if nxt is None:
                raise ValueError(f"the image's rows ended at {self._end}, before row {hi}")
            y, band = nxt
            self._held.append((y, band))
            self._end = y + len(band)
        parts = [b[max(0, lo - y):hi - y] for y, b in self._held if y < hi]
        if len(parts) == 1:
            return parts[0]
        rows = np.concatenate(parts)
        # hold the copy instead of the bands it came from (and the part of the last one below hi)
        y, last = self._held[-1]
        self._held = [(lo, rows)] + ([(hi, last[hi - y:])] if y + len(last) > hi else [])
        return rows


def as_rows(image):
    """An array or a row source, as a row source."""
    return ArrayRows(image) if isinstance(image, np.ndarray) else image
