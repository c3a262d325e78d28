"""Job sizes and the synthetic LR inputs of the speed and memory jobs.

Latency does not depend on image content for these static-shape graphs, so the LR input is
the repository's sample card resized (PIL bicubic) to the job's LR size: deterministic, and
no dependency on ../shared for the speed and memory parts."""
from __future__ import annotations

import numpy as np
from PIL import Image

from mossnet.core.paths import EXAMPLES

SAMPLE = EXAMPLES / "sample.png"

# name -> LR (width, height) for x4; the output is 4x that.
SIZES = {"256x256": (64, 64), "1080p": (480, 270), "4K": (960, 540), "8K": (1920, 1080)}
QUICK_SIZES = {"256x256": (64, 64), "640x360": (160, 90)}
HEADLINE = "4K"  # the job the targets are about: 960x540 -> 3840x2160
QUICK_HEADLINE = "640x360"


def test_image(width: int, height: int) -> np.ndarray:
    """HxWx3 uint8 LR input of the given size (one array; nothing else is kept)."""
    with Image.open(SAMPLE) as im:
        return np.array(im.convert("RGB").resize((width, height), Image.BICUBIC))


def output_megapixels(lr_size: tuple[int, int], scale: int = 4) -> float:
    w, h = lr_size
    return w * h * scale * scale / 1e6
