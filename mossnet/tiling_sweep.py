"""Measure patch size and halo: ``python -m mossnet.tiling_sweep [--images DIR]``.

For each (patch, halo): compute overhead (LR pixels the model processes per image pixel, for
a 960x540 LR image, i.e. a 4K output), the PSNR of the tiled output against the whole-image
output on real images, and the eager float time per output megapixel. The table in
docs/tiling.md comes from this command; the defaults in ``mossnet.tiling`` follow it."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_model
from .image_io import ImageError, iter_image_files, load_image
from .metrics import psnr
from .pipeline import model_tiling, receptive_field_radius, upscale_whole, upscale_with_model
from .tiling import plan_tiles

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def overhead(t, height: int = 540, width: int = 960) -> float:
    return len(plan_tiles(height, width, t)) * t.input_size ** 2 / (height * width)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tiling_sweep", description=__doc__,
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
    torch.set_grad_enabled(False)
    whole = [upscale_whole(model, im, model_tiling(model)) for im in images]
    bench = np.random.default_rng(0).integers(0, 256, (540, 960, 3), dtype=np.uint8)
    print(f"receptive-field radius {receptive_field_radius(model)} LR px; PSNR of tiled vs "
          f"whole-image uint8 output on {len(images)} image(s) from {args.images}; time for "
          f"960x540 -> 3840x2160, eager float, {torch.get_num_threads()} threads")
    print("| patch | halo | tiles (4K) | compute overhead | PSNR tiled vs whole (dB) | s per 4K frame |")
    print("|---|---|---|---|---|---|")
    for patch in args.patches:
        for halo in args.halos:
            try:
                t = model_tiling(model, patch=patch, halo=halo)
            except ValueError:
                continue
            scores = [psnr(upscale_with_model(model, im, t), w) for im, w in zip(images, whole)]
            worst = min(scores)
            secs = ""
            if halo == max(args.halos):
                start = time.perf_counter()
                upscale_with_model(model, bench, t)
                secs = f"{time.perf_counter() - start:.2f}"
            print(f"| {patch} | {halo} | {len(plan_tiles(540, 960, t))} | {overhead(t):.2f}x | "
                  f"{'exact (inf)' if np.isinf(worst) else f'{worst:.1f}'} | {secs} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
