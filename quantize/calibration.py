"""Calibration data, cut exactly as the tiled pipeline cuts it.

Calibration images are HR photos; each is downscaled with the MATLAB-compatible bicubic
(the LR distribution the model was trained and is evaluated on), then its thumbnail and its
tiles are taken with ``mossnet.core.tiling``: the observers see the tensors the runtimes will see.
Without ``--calib``, the two photos that scikit-learn installs (``china.jpg``, ``flower.jpg``)
and the repository's sample card are used; pass ``--calib ../shared/data/train`` (or any
folder) for a representative set."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

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


def calibration_set(files: list[Path], tiling: TilingConfig, num_patches: int, seed: int = 0,
                    max_images: int = 64) -> list[CalibrationImage]:
    """About ``num_patches`` tiles spread evenly over up to ``max_images`` readable images
    (chosen evenly across the list, so every sub-folder is represented)."""
    rng = np.random.default_rng(seed)
    if len(files) > max_images:
        files = [files[i] for i in np.linspace(0, len(files) - 1, max_images).round().astype(int)]
    images = []
    for path in files:
        try:
            rgb = load_image(path, max_pixels=50_000_000).rgb
        except ImageError:
            continue
        if min(rgb.shape[:2]) >= 4 * tiling.scale:
            images.append(to_lr(rgb, tiling.scale))
    if not images:
        raise ImageError("no readable calibration image (need at least one image of "
                         f"{4 * tiling.scale}x{4 * tiling.scale} pixels)")
    per_image = max(1, -(-num_patches // len(images)))
    out = []
    for lr in images:
        tiles = plan_tiles(*lr.shape[:2], tiling)
        chosen = rng.choice(len(tiles), size=min(per_image, len(tiles)), replace=False)
        out.append(CalibrationImage(
            thumb=make_thumbnail(lr, tiling),
            patches=[to_model_input(extract_patch(lr, tiles[i], tiling)) for i in sorted(chosen)]))
    return out
