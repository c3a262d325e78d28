"""A row-streaming output for ``mossnet.core.tiling.upscale_tiled(out=...)``.

Tiles arrive in row-major order and every tile of one row owns the same output rows, so the
writer keeps one strip (one tile row, full width) and appends it to a binary PPM file when the
next row starts. A tiled job then holds O(width x patch) output pixels instead of the whole
image: this is what keeps its peak memory flat as the image grows."""
from __future__ import annotations

from pathlib import Path

import numpy as np


class PPMStripWriter:
    def __init__(self, path: str | Path, height: int, width: int):
        self.height, self.width = height, width
        self._file = open(path, "wb")
        self._file.write(f"P6\n{width} {height}\n255\n".encode())
        self._rows: tuple[int, int] | None = None
        self._strip: np.ndarray | None = None
        self.rows_written = 0

    def __setitem__(self, key, block: np.ndarray) -> None:
        ys, xs = key
        rows = (ys.start, ys.stop)
        if rows != self._rows:
            self._flush()
            self._rows = rows
            if self._strip is None or self._strip.shape[0] != rows[1] - rows[0]:
                self._strip = np.empty((rows[1] - rows[0], self.width, 3), np.uint8)
        self._strip[:, xs] = block

    def _flush(self) -> None:
        if self._rows is None:
            return
        y0, y1 = self._rows
        if y0 != self.rows_written:
            raise ValueError(f"rows {y0}..{y1} arrived out of order (next expected {self.rows_written})")
        self._file.write(memoryview(self._strip))  # no tobytes() copy of the strip
        self.rows_written, self._rows = y1, None

    def close(self) -> None:
        try:
            self._flush()
            if self.rows_written != self.height:
                raise ValueError(f"only {self.rows_written} of {self.height} rows were written")
        finally:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.close()
        else:
            self._file.close()
