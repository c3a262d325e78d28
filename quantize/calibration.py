"""Calibration data, cut exactly as the tiled pipeline cuts it.

Calibration images are HR photos; each is downscaled with the MATLAB-compatible bicubic
(the LR distribution the model was trained and is evaluated on), then its thumbnail and its
tiles are taken with ``mossnet.core.tiling``: the observers see the tensors the runtimes will see.
Without ``--calib``, the two photos that scikit-learn installs (``china.jpg``, ``flower.jpg``)
and the repository's sample card are used; pass ``--calib DIR`` (your own photos, or
``../shared/data/train``) for another set.

Phones photograph dim rooms, night streets, bright saturated scenes and close-ups as well as
daylight landscapes, so every image is seen in ``VARIANTS``: at several scales (what is a
10-pixel detail in one photo is a 40-pixel one in a close-up), cropped at several offsets (the
tiles fall on different content), flipped, and in three tonal versions (as shot, dark, and
bright and saturated). The activation ranges and the bias correction then cover what the
programs meet on a phone, not only three daylight pictures; the report gives the number of
source images, variant images and tiles."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mossnet.core.bicubic import downscale_uint8
from mossnet.core.image_io import ImageError, iter_image_files, load_image
from mossnet.core.paths import EXAMPLES
from mossnet.core.tiling import (
    TilingConfig,
    extract_patch,
    make_thumbnail,
    plan_tiles,
    to_model_input,
)


def default_calibration_files() -> list[Path]:
    """scikit-learn's two photos and the sample card, named one by one: what else lands in
    ``examples/`` (the README's photo) must not change the shipped int8 artifacts."""
    files = []
    spec = importlib.util.find_spec("sklearn")
    if spec and spec.origin:
        files += sorted((Path(spec.origin).parent / "datasets" / "images").glob("*.jpg"))
    return files + [EXAMPLES / "sample.png"]


@dataclass
class CalibrationImage:
    thumb: np.ndarray  # (1, 3, T, T) float32
    patches: list[np.ndarray]  # each (1, 3, P+2h, P+2h) float32


def calibration_files(folders: list[str] | None) -> list[Path]:
    if not folders:
        return default_calibration_files()
    files = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise ImageError(f"{folder}: no such calibration folder")
        files += iter_image_files(folder)
    if not files:
        raise ImageError(f"{', '.join(folders)}: no images in the calibration folder")
    return files


def to_lr(rgb: np.ndarray, scale: int) -> np.ndarray:
    h, w = (s - s % scale for s in rgb.shape[:2])
    hr = torch.from_numpy(rgb[:h, :w]).permute(2, 0, 1).double()
    return downscale_uint8(hr, scale).permute(1, 2, 0).numpy().astype(np.uint8)


SCALES = (2.0, 1.4, 1.0, 0.7, 0.5)  # HR resized by these before the x4 (or x2) downscale
TONES = ("as shot", "dark", "vivid")
MAX_SIDE = 2048  # large photos are first brought to at most this side (a phone photo's detail scale)


def tone(rgb: np.ndarray, kind: str) -> np.ndarray:
    """A tonal version of an HR image: ``dark`` (under-exposed: a quarter of the light, deeper
    shadows), ``vivid`` (1.25x brighter, 1.6x saturation, clipped: highlights and saturated
    colours at the ends of the range)."""
    if kind == "as shot":
        return rgb
    x = rgb.astype(np.float32) / 255
    if kind == "dark":
        x = 0.25 * x ** 1.3
    elif kind == "vivid":
        luma = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = 1.25 * (luma[..., None] + 1.6 * (x - luma[..., None]))
    else:
        raise ValueError(f"unknown tone {kind!r}")
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def resize(rgb: np.ndarray, factor: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))


def variants(rgb: np.ndarray, rng: np.random.Generator, scale: int):
    """Every (scale, tone) version of one HR image, each flipped one of four ways and cropped
    at a random offset (so the tiles fall on different content)."""
    if max(rgb.shape[:2]) > MAX_SIDE:
        rgb = resize(rgb, MAX_SIDE / max(rgb.shape[:2]))
    for i, factor in enumerate(SCALES):
        sized = resize(rgb, factor) if factor != 1 else rgb
        for j, kind in enumerate(TONES):
            flip = (i * len(TONES) + j) % 4
            v = sized[::-1] if flip & 1 else sized
            v = v[:, ::-1] if flip & 2 else v
            dy, dx = (int(rng.integers(0, max(1, min(n // 8, 32 * scale)))) for n in v.shape[:2])
            v = v[dy:, dx:]
            if min(v.shape[:2]) >= 4 * scale:
                yield np.ascontiguousarray(tone(v, kind))


def calibration_set(files: list[Path], tiling: TilingConfig, num_patches: int, seed: int = 0,
                    max_images: int = 64, augment: bool = True) -> list[CalibrationImage]:
    """About ``num_patches`` tiles spread evenly over up to ``max_images`` readable images
    (chosen evenly across the list, so every sub-folder is represented), each seen in its
    ``variants`` (``augment``; each variant is one calibration image with its own thumbnail)."""
    rng = np.random.default_rng(seed)
    if len(files) > max_images:
        files = [files[i] for i in np.linspace(0, len(files) - 1, max_images).round().astype(int)]
    images = []
    for path in files:
        try:
            rgb = load_image(path, max_pixels=50_000_000).rgb
        except ImageError:
            continue
        if min(rgb.shape[:2]) < 4 * tiling.scale:
            continue
        for v in (variants(rgb, rng, tiling.scale) if augment else [rgb]):
            images.append(to_lr(v, tiling.scale))
    if not images:
        raise ImageError("no readable calibration image (need at least one image of "
                         f"{4 * tiling.scale}x{4 * tiling.scale} pixels)")
    plans = [plan_tiles(*lr.shape[:2], tiling) for lr in images]
    # share the tiles out evenly: every image up to the same count, the big ones fill the rest
    quota, counts = max(0, num_patches), [0] * len(images)
    while quota and any(c < len(p) for c, p in zip(counts, plans)):
        for i, plan in enumerate(plans):
            if quota and counts[i] < len(plan):
                counts[i], quota = counts[i] + 1, quota - 1
    out = []
    for lr, tiles, n in zip(images, plans, counts):
        if n == 0:  # fewer tiles asked for than images: the first images, one tile each
            continue
        chosen = rng.choice(len(tiles), size=n, replace=False)
        out.append(CalibrationImage(
            thumb=make_thumbnail(lr, tiling),
            patches=[to_model_input(extract_patch(lr, tiles[i], tiling)) for i in sorted(chosen)]))
    return out


def describe(calib: list[CalibrationImage], files: int) -> dict:
    """What a report says of a calibration set."""
    return {"source_images": files, "images": len(calib), "tiles": sum(len(c.patches) for c in calib)}
