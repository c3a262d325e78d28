"""Upscale one image: ``python -m mossnet.upscale in.png out.png``.

Runs the shipped MossNet-XS x4 weights (or ``--ckpt``) through the tiled pipeline, so memory
stays bounded by the patch size at any image size. Alpha is resized with bicubic, grayscale
inputs give grayscale outputs, EXIF rotation is applied, and the output is written atomically."""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_model
from .image_io import DEFAULT_MAX_PIXELS, ImageError, check_output_path, load_image, save_image
from .pipeline import model_tiling, upscale_with_model
from .tiling import plan_tiles

PROGRESS_MIN_TILES = 16  # show a progress bar from this many tiles on


def tile_progress(total: int, quiet: bool):
    """A tqdm wrapper for the tile loop, or None when the job is small or --quiet."""
    if quiet or total < PROGRESS_MIN_TILES:
        return None
    return lambda tiles: tqdm(tiles, total=total, desc="upscaling", unit="tile")


def upscale_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    h, w = alpha.shape
    return np.asarray(Image.fromarray(alpha).resize((w * scale, h * scale), Image.BICUBIC))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.upscale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="image to upscale (PNG, JPEG, WebP, BMP, TIFF)")
    p.add_argument("output", help="where to write the result; the format follows the suffix")
    p.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT), help="MossNet checkpoint (default: shipped XS x4)")
    p.add_argument("--patch", type=int, default=None, help="LR tile core side (default from the tiling module)")
    p.add_argument("--halo", type=int, default=None, help="LR overlap per side (default: exact, >= receptive field)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse larger inputs (default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    args = p.parse_args(argv)
    try:
        check_output_path(args.output)
        model, _ = load_model(args.ckpt)
        try:
            tiling = model_tiling(model, patch=args.patch, halo=args.halo)
        except ValueError as exc:
            raise ImageError(f"bad tiling: {exc}") from None
        image = load_image(args.input, max_pixels=args.max_pixels)
        if args.threads:
            torch.set_num_threads(args.threads)
        h, w = image.rgb.shape[:2]
        progress = tile_progress(len(plan_tiles(h, w, tiling)), args.quiet)
        sr = upscale_with_model(model, image.rgb, tiling, progress=progress)
        alpha = None if image.alpha is None else upscale_alpha(image.alpha, tiling.scale)
        save_image(args.output, sr, alpha=alpha, grayscale=image.grayscale)
    except (CheckpointError, ImageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permission denied, ...
        print(f"error: {args.output}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"{args.input} ({w}x{h}) -> {args.output} ({w * tiling.scale}x{h * tiling.scale})",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
