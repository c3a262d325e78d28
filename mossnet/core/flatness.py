"""Flat colours must stay flat, and no upscaler may draw a sub-pixel grid.

The check images: every flat colour of {0, 128, 255}^3 (the colour cube's corners, edge
midpoints and centre) and a few mid-tones, a smooth gradient and a real photo
(``examples/photo.png``). ``flatness`` upscales them through any pair of programs with the
product's tiling and reports the worst deviation of a flat colour from itself (levels) and the
sub-pixel grid (``mossnet.core.metrics.subpixel_grid``) on the flats, the gradient and the
photo. With ``random_colours`` it also gives the grid on that many other flat colours, drawn at
random (seeded). Most of them have no channel at 0 or 255, where the check's own colours clip
any error that points outward, so they show how often a typical flat colour gets a grid (a
figure the bounds do not judge). A photo never gives the context encoder a flat or fully
saturated thumbnail, so flats are where a network extrapolates worst, and where an int8
program's per-channel errors show as a periodic pattern (issue 20). Runs on checkpoints
(``mossnet.tools.flat_check``) and on every int8 artifact at export (its manifest records the
result)."""
from __future__ import annotations

import itertools

import numpy as np

from .metrics import subpixel_grid
from .paths import EXAMPLES
from .tiling import ContextFn, PatchFn, TilingConfig, upscale_tiled

LEVELS = (0, 128, 255)
MID_TONES = ((200, 170, 60), (90, 140, 200), (230, 215, 200), (40, 32, 28), (120, 160, 90))
FLAT_COLOURS = tuple(itertools.product(LEVELS, repeat=3)) + MID_TONES
FLAT_SIZE = (38, 50)  # LR pixels: more than one tile's core of a 32-pixel patch, fast at 64
FLAT_BOUND = 2  # levels a flat colour may move (issue 20)
GRID_BOUND = 0.15  # levels of sub-pixel grid allowed (issue 20)
PHOTO = EXAMPLES / "photo.png"
RANDOM_SEED = 0


def random_flat_colours(n: int, seed: int = RANDOM_SEED) -> list[tuple[int, int, int]]:
    """``n`` flat colours drawn uniformly from the colour cube, the same ones every run."""
    rng = np.random.default_rng(seed)
    return [tuple(int(v) for v in c) for c in rng.integers(0, 256, (n, 3))]


def flat_image(rgb, size: tuple[int, int] = FLAT_SIZE) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (*size, 3)).copy()


def gradient_image(size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """A smooth diagonal colour ramp, like a sky (at most one level between LR pixels; the
    float XS draws 0.02 levels of grid on it)."""
    h, w = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    t = (x + 0.5 * y) / (w + 0.5 * h)
    rgb = np.stack([30 + 100 * t, 200 - 60 * t, 60 + 40 * np.sin(np.pi * t)], axis=-1)
    return (rgb + 0.5).astype(np.uint8)


def photo_image() -> np.ndarray | None:
    if not PHOTO.is_file():
        return None
    from .image_io import load_image
    return load_image(PHOTO).rgb


def flatness(context_fn: ContextFn, patch_fn: PatchFn, tiling: TilingConfig,
             colours=FLAT_COLOURS, photo: bool = True, random_colours: int = 0,
             random_seed: int = RANDOM_SEED) -> dict:
    """Run the check images through the programs: {"flat_worst_levels", "flat_worst_colour",
    "flat_grid_levels", "gradient_grid_levels", "photo_grid_levels", "pass", "bounds"}, and
    with ``random_colours`` "random_flats": {"colours", "seed", "grid_mean_levels",
    "grid_max_levels", "grid_max_colour", "over_bound"} (how many of them draw more grid than
    ``GRID_BOUND``), the colours drawn with ``random_seed``."""
    up = lambda img: upscale_tiled(img, context_fn, patch_fn, tiling)
    worst, worst_colour, flat_grid = -1, None, 0.0
    for rgb in colours:
        sr = up(flat_image(rgb))
        dev = int(np.abs(sr.astype(np.int16) - np.array(rgb, np.int16)).max())
        if dev > worst:
            worst, worst_colour = dev, list(rgb)
        flat_grid = max(flat_grid, subpixel_grid(sr, tiling.scale))
    out = {"flat_worst_levels": worst, "flat_worst_colour": worst_colour,
           "flat_grid_levels": round(flat_grid, 3),
           "gradient_grid_levels": round(subpixel_grid(up(gradient_image()), tiling.scale), 3)}
    image = photo_image() if photo else None
    if image is not None:
        out["photo_grid_levels"] = round(subpixel_grid(up(image), tiling.scale), 3)
    if random_colours > 0:
        colours = random_flat_colours(random_colours, random_seed)
        grids = [subpixel_grid(up(flat_image(rgb)), tiling.scale) for rgb in colours]
        out["random_flats"] = {"colours": random_colours, "seed": random_seed,
                               "grid_mean_levels": round(float(np.mean(grids)), 3),
                               "grid_max_levels": round(max(grids), 3),
                               "grid_max_colour": list(colours[int(np.argmax(grids))]),
                               "over_bound": sum(g > GRID_BOUND for g in grids)}
    out["bounds"] = {"flat_levels": FLAT_BOUND, "grid_levels": GRID_BOUND}
    out["pass"] = bool(worst <= FLAT_BOUND and flat_grid <= GRID_BOUND
                       and out["gradient_grid_levels"] <= GRID_BOUND)
    return out
