"""Upscale images: ``python -m mossnet.upscale in.png out.png``, ``... IN_DIR OUT_DIR`` or
``... a.png b.jpg OUT_DIR``.

Runs the shipped MossNet-XS x4 weights (or ``--ckpt``: any checkpoint, quantized pipeline or
exported artifact) through the tiled pipeline, so memory stays bounded by the patch size at any
image size. Alpha is resized with bicubic, grayscale inputs give grayscale outputs, EXIF
rotation is applied, and every output is written atomically (PNG streamed as tile rows finish).
Folders and several inputs go into one output folder (sub-folders mirrored, ``--format``,
``--skip-existing``) with the programs loaded once and one progress bar; a file that fails is
one line on stderr, the others are still written, and the exit code is then non-zero."""
from __future__ import annotations

import argparse
import sys

from mossnet.core.errors import quiet_interrupts

if __name__ == "__main__":  # before torch's seconds of importing: Ctrl-C there is one line too
    quiet_interrupts()

from mossnet import api
from mossnet.core.flags import positive
from mossnet.core.paths import DEFAULT_CHECKPOINT
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
