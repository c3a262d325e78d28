"""Measure patch size and halo: ``python -m mossnet.tools.tiling_sweep [--images DIR]``.

For each (patch, halo): compute overhead (LR pixels the model processes per image pixel, for
a 960x540 LR image, i.e. a 4K output), the PSNR of the tiled output against the whole-image
output on real images, and the eager float time per output megapixel. The table in
docs/tiling.md comes from this command; the defaults in ``mossnet.core.tiling`` follow it."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_model
from mossnet.core.image_io import ImageError, iter_image_files, load_image
from mossnet.core.metrics import psnr
from mossnet.core.paths import EXAMPLES
from mossnet.core.pipeline import (
    model_tiling,
    receptive_field_radius,
    upscale_whole,
    upscale_with_model,
)
from mossnet.core.tiling import plan_tiles


def overhead(t, height: int = 540, width: int = 960) -> float:
    return len(plan_tiles(height, width, t)) * t.input_size ** 2 / (height * width)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.tiling_sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT))
    p.add_argument("--images", default=str(EXAMPLES), help="folder of test images (LR inputs)")
    p.add_argument("--patches", type=int, nargs="+", default=[32, 48, 64, 96, 128])
    p.add_argument("--halos", type=int, nargs="+", default=[0, 2, 4, 6, 8])
    p.add_argument("--max-images", type=int, default=5)
    args = p.parse_args(argv)
    try:
        model, _ = load_model(args.ckpt)
        files = iter_image_files(args.images)[:args.max_images]
        if not files:
            raise ImageError(f"{args.images}: no images found")
        images = [load_image(f).rgb for f in files]
    except (CheckpointError, ImageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    whole = [upscale_whole(model, im, model_tiling(model)) for im in images]
    print(f"receptive-field radius {receptive_field_radius(model)} LR px; PSNR of tiled vs "
          f"whole-image uint8 output on {len(images)} image(s) from {args.images} (speed per patch "
          f"size: the benchmark's patch sweep)")
    print("| patch | halo | tiles (4K) | compute overhead | PSNR tiled vs whole (dB) |")
    print("|---|---|---|---|---|")
    for patch in args.patches:
        for halo in args.halos:
            try:
                t = model_tiling(model, patch=patch, halo=halo)
            except ValueError:
                continue
            scores = [psnr(upscale_with_model(model, im, t), w) for im, w in zip(images, whole)]
            worst = min(scores)
            print(f"| {patch} | {halo} | {len(plan_tiles(540, 960, t))} | {overhead(t):.2f}x | "
                  f"{'exact (inf)' if np.isinf(worst) else f'{worst:.1f}'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
