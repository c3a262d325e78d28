"""Published x4 Y-PSNR of small SR models (their papers, as quoted in ../shared/README.md) and
their cost at 256x256 LR in this project's convention: 2 FLOPs per multiply-add, convolutions
only (``mossnet.tools.info``).

FLOPs are derived from each architecture, since none of these models ships here:
- all convolutions of ESPCN, SESR and IMDN run at LR resolution, so multiply-adds per LR pixel
  equal the convolution weights: ESPCN x4 (Y) 5*5*1*64 + 3*3*64*32 + 3*3*32*16 = 24,640;
  SESR-XL x4 (Y, collapsed) 5*5*1*32 + 11*3*3*32*32 + 5*5*32*16 = 114,976;
  IMDN x4 (RGB): 40.9 G multiply-adds for a 1280x720 output in its paper = 710K per LR pixel.
- FSRCNN (d=56, s=12, m=4; Y): LR convs 5*5*56 + 56*12 + 4*3*3*12*12 + 12*56 = 7,928, plus the
  9x9 stride-4 deconvolution at 56*81 = 4,536 per LR pixel: 12,464.
GFLOPs = 2 * 256 * 256 * multiply-adds per LR pixel / 1e9. ``espcn_budget`` in
``mossnet.tools.benchmark.baselines`` reproduces the ESPCN figure with torch's counter."""
from __future__ import annotations

LR_PIXELS_256 = 256 * 256


def _gflops(macs_per_lr_pixel: float) -> float:
    return 2 * LR_PIXELS_256 * macs_per_lr_pixel / 1e9


PUBLISHED = [
    {"name": "FSRCNN", "parameters": 12_000, "gflops_256": _gflops(12_464), "channels": "Y",
     "psnr": {"Set5": 30.70, "Set14": 27.59, "B100": 26.96}},
    {"name": "ESPCN", "parameters": 25_000, "gflops_256": _gflops(24_640), "channels": "Y",
     "psnr": {"Set5": 30.52, "Set14": 27.42, "B100": 26.87}},
    {"name": "SESR-XL", "parameters": 115_000, "gflops_256": _gflops(114_976), "channels": "Y",
     "psnr": {"Set5": 31.54, "Set14": 28.12, "B100": 27.31}},
    {"name": "IMDN", "parameters": 715_000, "gflops_256": _gflops(40.9e9 / (320 * 180)), "channels": "RGB",
     "psnr": {"Set5": 32.21, "Set14": 28.58, "B100": 27.56}},
]
BICUBIC_REFERENCE = {"Set5": 28.43, "Set14": 26.09, "B100": 25.96}
