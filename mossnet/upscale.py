"""Upscale one image: ``python -m mossnet.upscale in.png out.png``.

Runs the shipped MossNet-XS x4 weights (or ``--ckpt``: any checkpoint, quantized pipeline or
exported artifact) through the tiled pipeline, so memory stays bounded by the patch size at any
image size. Alpha is resized with bicubic, grayscale inputs give grayscale outputs, EXIF
rotation is applied, and the output is written atomically."""
from __future__ import annotations

import argparse
import sys

from mossnet.core.errors import quiet_interrupts

if __name__ == "__main__":  # before torch's seconds of importing: Ctrl-C there is one line too
    quiet_interrupts()

from mossnet import api
from mossnet.core.checkpoint import DEFAULT_CHECKPOINT
from mossnet.core.flags import positive
from targets.cli import add_upscale_arguments, run_upscale


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.upscale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_upscale_arguments(p)
    p.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT),
                   help="checkpoint or exported artifact (default: shipped XS x4)")
    p.add_argument("--patch", type=positive, default=None, help="LR tile core side (default from the tiling module)")
    args = p.parse_args(argv)
    return run_upscale(args, lambda: api.load(args.ckpt, patch=args.patch, threads=args.threads))


if __name__ == "__main__":
    sys.exit(main())
