"""The tiling plan: the one source of truth for patch size, halo, tile placement and stitching.

Rules (docs/tiling.md spells them out for the Kotlin and Swift ports):

1. The LR image (H, W) is extended to a *canvas* by edge replication: each side becomes
   ``max(ceil(side / align) * align, patch)``. Pixels outside the image repeat the nearest
   edge pixel (index clamping), so no padded copy of the image is ever built.
2. Along each axis, tile cores start at 0, patch, 2*patch, ... while they fit; if the canvas
   is not a multiple of ``patch`` one last core starts at ``canvas - patch``. Every start is a
   multiple of ``align``, which keeps the U-Net's stride-2 grid identical in every tile.
3. A tile's input is its core plus ``halo`` pixels on each side (edge-replicated where it
   leaves the image): a fixed ``patch + 2 * halo`` square. Its output is the core, x scale.
4. Each tile *owns* the part of its core from the end of the previous core (or its own
   start) to its own end, clipped to the image. Owned regions cover every output pixel
   exactly once; only owned pixels are written.
5. The context thumbnail is the adaptive average pool of the whole image to
   ``thumb x thumb`` (bin i spans floor(i*H/T) .. ceil((i+1)*H/T)).

With ``halo >= receptive-field radius`` the tiled output equals the whole-image output
(``upscale_whole``) up to float rounding: seams cannot exist.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import numpy as np

from mossnet.core.rows import as_rows

# Chosen by measurement (docs/tiling.md, `python -m mossnet.tools.tiling_sweep`). The default halo
# is not a constant: it is the model's receptive-field radius rounded up to ``align``, the
# smallest halo for which tiling is exact.
DEFAULT_PATCH = 64
# A tile's LR core is at most this: at 1024 the patch program's activations already take about
# 0.5 GB, and no image needs a larger one to be tiled exactly (a bigger core only adds canvas).
MAX_PATCH = 1024
MAX_THUMB = 1024
THUMB_ROW_BINS = 8  # make_thumbnail's float64 row means at a time: 8 x the width x 24 bytes (0.4 MB at 1920)
MAX_SCALE = 8  # the rules hold for any scale; MossNet models are x2 and x4


@dataclass(frozen=True)
class TilingConfig:
    scale: int
    patch: int  # LR side of a tile's core
    halo: int  # LR pixels of context on each side of the core
    align: int  # core starts and the canvas are multiples of this
    thumb: int  # side of the context thumbnail

    def __post_init__(self):
        """Every tiling, whether from a flag, a manifest or a quant.json, passes these checks:
        they are what keeps the tiling driver's arithmetic and memory sane."""
        for name in ("scale", "patch", "halo", "align", "thumb"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, not {type(value).__name__} {value!r}")
        if not 1 <= self.scale <= MAX_SCALE:
            raise ValueError(f"scale {self.scale} must be between 1 and {MAX_SCALE}")
        if self.align < 1 or self.align & (self.align - 1) or self.align > 64:
            raise ValueError(f"align {self.align} must be a power of two up to 64")
        if self.patch <= 0 or self.patch % self.align:
            raise ValueError(f"patch {self.patch} must be a positive multiple of {self.align}")
        if self.patch > MAX_PATCH:
            gib = 4 * 64 * (self.patch + 2 * self.halo) ** 2 / 2 ** 30  # ~64 float channels alive
            raise ValueError(f"patch {self.patch} is over the limit of {MAX_PATCH} (one tile would need "
                             f"about {gib:.1f} GiB; a larger tile only adds padding)")
        if self.halo < 0 or self.halo % self.align or self.halo > MAX_PATCH:
            raise ValueError(f"halo {self.halo} must be a non-negative multiple of {self.align} "
                             f"up to {MAX_PATCH}")
        if not 1 <= self.thumb <= MAX_THUMB:
            raise ValueError(f"thumb {self.thumb} must be between 1 and {MAX_THUMB}")

    @classmethod
    def from_dict(cls, d) -> "TilingConfig":
        """A tiling from JSON (manifest, quant.json): exactly these five integer keys."""
        keys = ("scale", "patch", "halo", "align", "thumb")
        if not isinstance(d, dict):
            raise ValueError(f"tiling must be an object with {', '.join(keys)}, not {type(d).__name__}")
        if set(d) != set(keys):
            missing, extra = set(keys) - set(d), set(d) - set(keys)
            raise ValueError("tiling " + "; ".join(
                ([f"lacks {', '.join(sorted(missing))}"] if missing else [])
                + ([f"has unknown {', '.join(sorted(map(str, extra)))}"] if extra else [])))
        return cls(**{k: d[k] for k in keys})

    @property
    def input_size(self) -> int:
        return self.patch + 2 * self.halo

    @property
    def output_size(self) -> int:
        return self.patch * self.scale

    def to_dict(self) -> dict:
        return asdict(self)


def exact_halo(receptive_field_radius: int, align: int) -> int:
    """Smallest aligned halo that covers the receptive field: tiling with it is exact."""
    return -(-receptive_field_radius // align) * align


def tiling_for(model_cfg, receptive_field_radius: int, patch: int | None = None,
               halo: int | None = None) -> TilingConfig:
    """The tiling config of a model config (``mossnet.core.arch.MossNetConfig``); see
    ``mossnet.core.pipeline.model_tiling`` for the one that measures the receptive field."""
    if halo is None:
        halo = exact_halo(receptive_field_radius, model_cfg.align)
    return TilingConfig(scale=model_cfg.scale, patch=DEFAULT_PATCH if patch is None else patch,
                        halo=halo, align=model_cfg.align, thumb=model_cfg.thumb_size)


@dataclass(frozen=True)
class Tile:
    y: int  # core origin (LR, canvas coordinates = image coordinates)
    x: int
    own_y0: int  # owned LR region [own_y0, own_y1) x [own_x0, own_x1), inside the image
    own_y1: int
    own_x0: int
    own_x1: int


def canvas_size(side: int, t: TilingConfig) -> int:
    return max(math.ceil(side / t.align) * t.align, t.patch)


def axis_starts(side: int, t: TilingConfig) -> list[int]:
    canvas = canvas_size(side, t)
    starts = list(range(0, canvas - t.patch + 1, t.patch))
    if starts[-1] + t.patch < canvas:
        starts.append(canvas - t.patch)
    return starts


def axis_ownership(side: int, t: TilingConfig) -> list[tuple[int, int, int]]:
    """(start, own_from, own_to) per tile along one axis; tiles owning nothing are dropped."""
    out, covered = [], 0
    for start in axis_starts(side, t):
        own_from, own_to = covered, min(start + t.patch, side)
        if own_to > own_from:
            out.append((start, own_from, own_to))
            covered = own_to
    return out


def plan_tiles(height: int, width: int, t: TilingConfig) -> list[Tile]:
    if height < 1 or width < 1:
        raise ValueError(f"cannot tile an empty image ({width}x{height})")
    rows, cols = axis_ownership(height, t), axis_ownership(width, t)
    return [Tile(y, x, oy0, oy1, ox0, ox1) for (y, oy0, oy1) in rows for (x, ox0, ox1) in cols]


def extract_patch(image: np.ndarray, tile: Tile, t: TilingConfig, top: int = 0) -> np.ndarray:
    """HxWxC image -> the tile's (input_size, input_size, C) input, edges replicated (a view of
    the image for a tile whose halo lies inside it, most of them: no gather). ``top``: the
    image row that ``image`` starts at, when it holds only the rows the tile reads (clamped
    to the image, as ``upscale_tiled`` passes them): clamping inside them is the same."""
    h, w = image.shape[:2]
    y0, x0, n = tile.y - t.halo - top, tile.x - t.halo, t.patch + 2 * t.halo
    if y0 >= 0 and x0 >= 0 and y0 + n <= h and x0 + n <= w:
        return image[y0:y0 + n, x0:x0 + n]
    ys = np.clip(np.arange(y0, y0 + n), 0, h - 1)
    xs = np.clip(np.arange(x0, x0 + n), 0, w - 1)
    return image[ys][:, xs]


def adaptive_pool_axis(a: np.ndarray, out: int, axis: int,
                       convert: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Adaptive average pool along one axis; ``convert`` is applied to each bin's slice before
    averaging (so a uint8 image is converted one bin at a time, never as a whole)."""
    n = a.shape[axis]
    bins = []
    for i in range(out):
        b = np.take(a, np.arange(i * n // out, -(-(i + 1) * n // out)), axis=axis)
        bins.append((b if convert is None else convert(b)).mean(axis=axis))
    return np.stack(bins, axis=axis)


def make_thumbnail(image, t: TilingConfig) -> np.ndarray:
    """HxWx3 uint8 (an array or a row source, ``mossnet.core.rows``) -> (1, 3, thumb, thumb)
    float32 in [0, 1] (rule 5).

    Bit-identical to pooling ``image.astype(float64) / 255`` (``adaptive_pool_axis`` on each
    axis) but without that copy, which is 8x the image (50 MB for a 1920x1080 input): rows are
    read in order, so a row source is read once and never held whole. Each row bin's mean is
    summed one row at a time in float64, in the order numpy's mean over the rows adds them,
    into a block of ``THUMB_ROW_BINS`` such means that is then pooled across. (A bin's rows
    converted at once were 0.8 MB at 1920 wide, twice per bin: for a 1920x1080 input the
    traced peak was 2.3 MB, now 0.9 MB, ``tests/test_bench.py``.)"""
    src = as_rows(image)
    n, w, window, pooled = src.shape[0], src.shape[1], src.window(), []
    for g in range(0, t.thumb, THUMB_ROW_BINS):
        means = np.zeros((min(THUMB_ROW_BINS, t.thumb - g), w, 3), np.float64)
        for mean, i in zip(means, range(g, g + len(means))):
            lo, hi = i * n // t.thumb, -(-(i + 1) * n // t.thumb)
            for row in window.rows(lo, hi):
                mean += row / 255.0  # float64, as the copy's values
            mean /= hi - lo
        pooled.append(adaptive_pool_axis(means, t.thumb, axis=1))
    return np.ascontiguousarray(np.concatenate(pooled).transpose(2, 0, 1)[None], dtype=np.float32)


def to_model_input(patch_hwc: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> float32 (1, 3, H, W) in [0, 1]."""
    return np.ascontiguousarray(patch_hwc.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def to_uint8(output_chw: np.ndarray, out: np.ndarray | None = None,
             scratch: np.ndarray | None = None) -> np.ndarray:
    """float (3, H, W) in [0, 1] -> contiguous uint8 HxWx3: clamp, then round half up:
    floor(v * 255 + 0.5) as two rounded operations in the input's precision, in place on one
    copy (``scratch``, shaped and typed like the input, when given); the cast truncates, which is
    the floor of a value that is at least 0.5. ``out``: the HxWx3 uint8 array to fill.

    The channels are interleaved one plane at a time: numpy's transposing copy of a whole
    CHW block runs its inner loop over the 3 channels and costs more than this whole function."""
    v = np.clip(output_chw, 0.0, 1.0, out=scratch)
    v *= 255.0
    v += 0.5
    if out is None:
        out = np.empty((*v.shape[1:], v.shape[0]), np.uint8)
    for c, plane in enumerate(v):
        out[..., c] = plane  # the cast: unsafe, truncating
    return out


# The two fixed-shape programs and their tensors, in call order. Every runtime, manifest and app
# reads the names from here; the torch modules that implement them are in mossnet.core.pipeline
# (this module stays free of torch, so a runtime that does not need it never loads it).
PROGRAMS = {"context": (("thumbnail",), "modulation"),
            "upscale_patch": (("patch", "modulation"), "hr_patch")}
# The graph of the torch modules behind them: artifacts and int8 pipelines record it, and the
# artifact store rebuilds those made from another (1: the halo computed, then cropped; 2: each
# decoder stage cropped to what the core needs, ``mossnet.core.arch.PatchUpscaler``).
PROGRAMS_VERSION = 2


def tensor_shapes(t: TilingConfig, modulation_dim: int) -> dict[str, list[int]]:
    """{tensor name: NCHW shape} of the two programs, the names taken from ``PROGRAMS`` by
    position, so that a manifest cannot pair a name with another tensor's shape."""
    (thumbnail,), modulation = PROGRAMS["context"]
    (patch, modulation_in), hr_patch = PROGRAMS["upscale_patch"]
    if modulation_in != modulation:
        raise ValueError(f"PROGRAMS: upscale_patch's second input is {modulation_in!r}, not the context's output")
    return {thumbnail: [1, 3, t.thumb, t.thumb], modulation: [1, modulation_dim, 1, 1],
            patch: [1, 3, t.input_size, t.input_size], hr_patch: [1, 3, t.output_size, t.output_size]}

ContextFn = Callable[[np.ndarray], np.ndarray]
PatchFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def upscale_tiled(image, context_fn: ContextFn, patch_fn: PatchFn, t: TilingConfig,
                  progress: Callable[[Iterator], Iterator] | None = None,
                  as_float: bool = False, out=None) -> np.ndarray:
    """Upscale an HxWx3 uint8 image (an array, or a row source: ``mossnet.core.rows``) with
    the two fixed-shape programs.

    ``context_fn(thumb)`` -> modulation; ``patch_fn(patch, modulation)`` -> (1, 3, s*P, s*P)
    float output of the tile's core. Only one tile's tensors are alive at a time, and the
    uint8 conversion reuses one float copy and one block for every tile (at patch 64 the
    copy is 786 KB: per tile, it was the loop's largest allocation after the runtime's
    output). The result is uint8 HxWx3, or with ``as_float`` the raw float32 output (for
    exactness checks).

    ``out`` receives the result instead of a new array: anything that takes numpy slice
    assignment ``out[y0:y1, x0:x1] = block`` and copies the block (a np.memmap, or a writer
    that streams finished tile rows to disk so memory stays flat; tiles arrive in row-major
    order)."""
    src = as_rows(image)
    h, w = src.shape[:2]
    s = t.scale
    modulation = context_fn(make_thumbnail(src, t))
    if out is None:
        out = np.empty((h * s, w * s, 3), dtype=np.float32 if as_float else np.uint8)
    tiles = plan_tiles(h, w, t)
    window, row_y, top, rows = src.window(t.patch + 2 * t.halo), None, 0, None
    scratch = block = None  # one tile's float copy and uint8 block, reused for every tile
    for tile in (progress(tiles) if progress else tiles):
        if tile.y != row_y:  # a new tile row: its rows and halo, clamped to the image
            row_y, top = tile.y, max(0, tile.y - t.halo)
            rows = window.rows(top, min(h, tile.y + t.patch + t.halo))
        hr = np.asarray(patch_fn(to_model_input(extract_patch(rows, tile, t, top)), modulation))[0]
        if as_float:
            hr = hr.transpose(1, 2, 0)
        else:
            if scratch is None or scratch.shape != hr.shape or scratch.dtype != hr.dtype:
                scratch, block = np.empty_like(hr), None
            hr = block = to_uint8(hr, out=block, scratch=scratch)
        oy, ox = (tile.own_y0 - tile.y) * s, (tile.own_x0 - tile.x) * s
        oh, ow = (tile.own_y1 - tile.own_y0) * s, (tile.own_x1 - tile.own_x0) * s
        out[tile.own_y0 * s:tile.own_y1 * s, tile.own_x0 * s:tile.own_x1 * s] = hr[oy:oy + oh, ox:ox + ow]
    return out
