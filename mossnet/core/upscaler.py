"""``Upscaler``: what the Python API hands back for a checkpoint and for every exported artifact.

It holds the two fixed-shape programs of one runtime (``context_fn``, ``patch_fn``) and the
tiling they were built for, and upscales a Pillow image, a numpy array or an image file through
the one tiling driver (``mossnet.core.tiling.upscale_tiled``). It knows nothing of runtimes: the
runtime layer (``targets.registry``) builds it, so a checkpoint, a ``.pte``, a ``.tflite`` and a
``.coreml`` folder all upscale the same way."""
from __future__ import annotations

import os
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from mossnet.core.image_io import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    LoadedImage,
    atomic_write,
    check_output_path,
    from_pil,
    keeps_alpha,
    load_image,
    output_format,
    resize_alpha,
    save_image,
    to_pil,
)
from mossnet.core.png import PNGStripWriter
from mossnet.core.tiling import (
    ContextFn,
    PatchFn,
    TilingConfig,
    plan_tiles,
    upscale_tiled,
)

Progress = Callable[[int, int], None]  # (tiles done, tiles in all), called after every tile


@dataclass
class Upscaler:
    context_fn: ContextFn
    patch_fn: PatchFn
    tiling: TilingConfig
    runtime: str  # a name in targets.registry
    precision: str
    source: Path  # the checkpoint, quantized pipeline or artifact it was loaded from
    manifest: dict | None = field(default=None, repr=False)  # exported artifacts only

    @property
    def scale(self) -> int:
        return self.tiling.scale

    def tiles(self, height: int, width: int) -> int:
        """How many program calls an image of this size takes (for progress and ETA)."""
        return len(plan_tiles(height, width, self.tiling))

    def upscale_rgb(self, rgb, progress: Progress | None = None, out=None) -> np.ndarray:
        """HxWx3 uint8 (an array or a row source, ``mossnet.core.rows``) -> (sH)x(sW)x3 uint8.
        ``out``: any array-like that takes ``out[y0:y1, x0:x1] = block`` (a memmap, or a writer
        that streams finished rows)."""
        if isinstance(rgb, np.ndarray) and (rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3):
            raise ImageError(f"expected an HxWx3 uint8 array, got {rgb.dtype} {rgb.shape}")
        return upscale_tiled(rgb, self.context_fn, self.patch_fn, self.tiling,
                             progress=_callback(progress), out=out)

    def upscale(self, image: Image.Image | np.ndarray, progress: Progress | None = None):
        """A Pillow image (any mode; alpha is resized with bicubic, grayscale stays grayscale)
        or a uint8 array (HxW, HxWx3 or HxWx4) -> the same kind, ``scale`` times larger."""
        if isinstance(image, Image.Image):
            return to_pil(*self._upscale_loaded(from_pil(image), progress))
        a = np.asarray(image)
        if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
            raise ImageError(f"expected a uint8 HxW, HxWx3 or HxWx4 array, got {a.dtype} {a.shape}")
        if a.ndim == 2:
            return self.upscale_rgb(np.repeat(a[..., None], 3, axis=2), progress)[..., 0].copy()
        rgb = self.upscale_rgb(np.ascontiguousarray(a[..., :3]), progress)
        return rgb if a.shape[2] == 3 else np.dstack([rgb, resize_alpha(a[..., 3].copy(), self.scale)])

    def upscale_file(self, src: str | os.PathLike, dst: str | os.PathLike, *,
                     max_pixels: int = DEFAULT_MAX_PIXELS, progress: Progress | None = None,
                     overwrite: bool = False, notice: Callable[[str], None] | None = None,
                     quality: int | None = None) -> tuple[int, int]:
        """Read, upscale and atomically write one image (format from ``dst``'s suffix; PNG is
        streamed, ``quality`` is JPEG's and WebP's); returns the input's (width, height). The
        output path is checked before any work; writing over the input itself needs
        ``overwrite``. ``notice`` hears what the user should know (an animation's first frame
        is the one upscaled)."""
        check_output_path(dst)
        if not overwrite and same_file(src, dst):
            raise ImageError(f"{dst}: is the input itself; choose another output (or pass --overwrite)")
        loaded = load_image(src, max_pixels=max_pixels, stream=True)
        if loaded.frames > 1 and notice is not None:
            notice(f"{src} is an animation of {loaded.frames} frames; upscaling its first frame only")
        self.upscale_to_file(loaded, dst, progress=progress, quality=quality)
        return loaded.rgb.shape[1], loaded.rgb.shape[0]

    def upscale_to_file(self, image: LoadedImage, dst: str | os.PathLike, *, progress: Progress | None = None,
                        quality: int | None = None, encoder: Executor | None = None,
                        background: bool = True) -> Future | None:
        """Upscale a loaded image and write it atomically to ``dst``.

        PNG is streamed: each finished tile row is filtered and compressed (in a background
        thread while the next row computes, unless ``background`` is False: no overlap, and
        only one strip and the encoder's buffers in this thread), so the output is never held
        whole. An ``image`` whose ``rgb`` is a row source (``load_image(stream=True)``) is read
        as the tiles need it. Other formats
        are encoded whole by Pillow: in ``encoder`` when given (the returned future finishes
        the write; the caller may start the next image meanwhile), else here."""
        dst = check_output_path(dst)
        alpha = None if image.alpha is None or not keeps_alpha(dst) else resize_alpha(image.alpha, self.scale)
        if output_format(dst) == "PNG":
            h, w = image.rgb.shape[:2]
            mode = ("L" if image.grayscale else "RGB") + ("A" if alpha is not None else "")

            def write(tmp: str) -> None:
                with open(tmp, "wb") as f, PNGStripWriter(f, h * self.scale, w * self.scale, mode,
                                                          alpha=alpha, background=background) as writer:
                    self.upscale_rgb(image.rgb, progress, out=writer)
            atomic_write(dst, write)
            return None
        rgb = self.upscale_rgb(image.rgb, progress)
        if encoder is None:
            save_image(dst, rgb, alpha=alpha, grayscale=image.grayscale, quality=quality)
            return None
        return encoder.submit(save_image, dst, rgb, alpha=alpha, grayscale=image.grayscale, quality=quality)

    def _upscale_loaded(self, image: LoadedImage, progress: Progress | None):
        rgb = self.upscale_rgb(image.rgb, progress)
        alpha = None if image.alpha is None else resize_alpha(image.alpha, self.scale)
        return rgb, alpha, image.grayscale


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (links and ``./`` spellings included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _callback(progress: Progress | None):
    """Adapts a ``(done, total)`` callback to ``upscale_tiled``'s iterator wrapper."""
    if progress is None:
        return None

    def wrap(tiles: list) -> Iterator:
        for i, tile in enumerate(tiles):
            yield tile
            progress(i + 1, len(tiles))
    return wrap


def call_ms(up: Upscaler, runs: int = 20, warmup: int = 3) -> float:
    """Median latency (ms) of one ``upscale_patch`` call on random input of the tiling's shape."""
    import time
    rng = np.random.default_rng(0)
    t = up.tiling
    modulation = up.context_fn(rng.random((1, 3, t.thumb, t.thumb), dtype=np.float32))
    patch = rng.random((1, 3, t.input_size, t.input_size), dtype=np.float32)
    for _ in range(warmup):
        up.patch_fn(patch, modulation)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        up.patch_fn(patch, modulation)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))
