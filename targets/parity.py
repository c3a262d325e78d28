"""Parity: how closely an artifact's tiled output reproduces its reference, on named images.

``parity_images`` are centre crops of real photos (the two scikit-learn installs, else the
repository's sample card) and say which; ``recheck_images`` are images no export measured on
(for the tests and ``scripts/int8_parity.py``)."""
from __future__ import annotations

import numpy as np

from mossnet.core.image_io import load_image
from mossnet.core.metrics import psnr
from mossnet.core.tiling import TilingConfig, upscale_tiled

from .runtime import Programs

PARITY_CROP = (96, 128)  # LR crop of each parity image: 2x2 tiles, keeps exports quick
PSNR_CAP = 200.0  # identical outputs report this instead of infinity (JSON has no inf)

NamedImages = list[tuple[str, np.ndarray]]


def parity_images() -> NamedImages:
    """(description, HxWx3 uint8) centre crops of two real photos."""
    from quantize.calibration import default_calibration_files
    h, w = PARITY_CROP
    images = []
    for path in default_calibration_files()[:2]:
        rgb = load_image(path).rgb
        y, x = max(0, (rgb.shape[0] - h) // 2), max(0, (rgb.shape[1] - w) // 2)
        crop = rgb[y:y + h, x:x + w]
        images.append((f"{path.name} [{y}:{y + crop.shape[0]}, {x}:{x + crop.shape[1]}]", crop))
    return images


def recheck_images() -> NamedImages:
    """The parity crops turned upside down, and uniform noise of an odd size."""
    noise = np.random.default_rng(3).integers(0, 256, (37, 90, 3), dtype=np.uint8)
    return [(f"{name} rotated 180", im[::-1, ::-1].copy()) for name, im in parity_images()] + \
        [("uniform noise 37x90, seed 3", noise)]


def output_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (peak 1) of two float outputs clipped to [0, 1], capped at ``PSNR_CAP``."""
    return min(PSNR_CAP, psnr(np.clip(a, 0, 1), np.clip(b, 0, 1), peak=1.0))


def parity_per_image(programs: Programs, reference: Programs, tiling: TilingConfig,
                     images: NamedImages) -> dict[str, float]:
    """{image: PSNR of the tiled float output against the reference's}."""
    return {name: output_psnr(upscale_tiled(im, *programs, tiling, as_float=True),
                              upscale_tiled(im, *reference, tiling, as_float=True)) for name, im in images}


def measure_parity(programs: Programs, reference: Programs, tiling: TilingConfig,
                   images: NamedImages | None = None) -> float:
    """The lowest PSNR over ``images`` (default ``parity_images()``)."""
    return min(parity_per_image(programs, reference, tiling, parity_images() if images is None else images).values())
