"""Memory whose pages go back to the operating system as soon as what they held is used.

The streaming PNG writer fills one strip of output rows while the strip before it is encoded
in the background. Freed with ``free``, a strip stays resident (the allocator keeps it), so
both strips count in full. Here a strip lives in an anonymous mapping: a page becomes resident
when a tile first writes to it, and the encoder hands each run of rows back
(``madvise(MADV_DONTNEED)``) as soon as it has compressed them, so the two strips together
stay close to one. Where ``madvise`` is missing (Windows) nothing is handed back.
``trim_heap`` does the same for the C heap's free holes, once per strip."""
from __future__ import annotations

import ctypes
import mmap

import numpy as np

PAGE = mmap.PAGESIZE
CAN_RELEASE = hasattr(mmap.mmap, "madvise") and hasattr(mmap, "MADV_DONTNEED")
# Private, not Python's default shared mapping: a shared page handed back stays in the system's
# shared memory (only this process's count of it drops); a private one is freed.
PRIVATE = {"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS} if hasattr(mmap, "MAP_ANONYMOUS") else {}


class PageBuffer:
    """``nbytes`` of zeroed anonymous memory; ``array(shape)`` views it, ``release_to(n)``
    hands back the whole pages below byte ``n`` not handed back yet, ``release_all()`` all."""

    def __init__(self, nbytes: int):
        self.nbytes = nbytes
        self._map = mmap.mmap(-1, max(nbytes, 1), **PRIVATE)
        self._released = 0  # bytes below this went back (a multiple of PAGE)

    def array(self, shape: tuple[int, ...]) -> np.ndarray:
        """A uint8 view of the first bytes; writing to it makes their pages resident again."""
        self._released = 0
        return np.frombuffer(self._map, np.uint8, int(np.prod(shape))).reshape(shape)

    def release_to(self, stop: int) -> None:
        self._release(min(stop // PAGE * PAGE, len(self._map)))

    def release_all(self) -> None:
        self._release(len(self._map))  # the kernel rounds the last page up

    def _release(self, stop: int) -> None:
        if CAN_RELEASE and stop > self._released:
            self._map.madvise(mmap.MADV_DONTNEED, self._released, stop - self._released)
        self._released = max(self._released, stop)


def _malloc_trim():
    """glibc's ``malloc_trim``, or None (macOS, musl, Windows)."""
    try:  # the process's own symbols: libc is loaded (find_library would run ldconfig, 5 ms)
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


_TRIM = _malloc_trim()
CAN_TRIM = _TRIM is not None


def trim_heap() -> None:
    """Hand the free pages inside the C heap back to the system (glibc; elsewhere nothing).

    Every tile allocates and frees blocks of a few sizes (its input, the PNG decoder's bands,
    the PNG encoder's chunks; the ExecuTorch runner's output and the input rows are now reused)
    around blocks that stay, and glibc returns only the free memory at the top of its heap: the
    free holes between live blocks grew by about 1.5 MB over an 8K job's 510 tiles
    (``mallinfo2``, before that reuse), and the 8K job's peak with them.
    ``malloc_trim(0)`` also releases the whole free pages inside those holes; the streaming PNG
    writer calls it once per strip, which cost nothing measurable in the 4K job's wall time."""
    if _TRIM is not None:
        _TRIM(0)
