"""Flat colours must stay flat: ``python -m mossnet.tools.flat_check [CKPT ...]``.

Upscales a flat image of each of the 27 colours of {0, 128, 255}^3 (the colour cube's
corners, edge midpoints and centre) through the product's tiled pipeline and prints the
worst deviation from that colour, in uint8 levels. A photo never gives the context encoder
a flat or fully saturated thumbnail, so this is where a network extrapolates worst: an
earlier XS turned an all-black image into a 34-level sub-pixel grid."""
from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np
import torch

from mossnet.core.arch import MossNet
from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_model
from mossnet.core.pipeline import model_tiling, upscale_with_model

LEVELS = (0, 128, 255)


@torch.no_grad()
def flat_colour_errors(model: MossNet, size: tuple[int, int] = (24, 40)) -> dict[tuple, int]:
    """{(r, g, b): largest |output - colour| over the upscaled flat image}."""
    tiling = model_tiling(model)
    errors = {}
    for rgb in itertools.product(LEVELS, repeat=3):
        lr = np.broadcast_to(np.array(rgb, np.uint8), (*size, 3)).copy()
        sr = upscale_with_model(model, lr, tiling)
        errors[rgb] = int(np.abs(sr.astype(np.int16) - np.array(rgb, np.int16)).max())
    return errors


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.flat_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpt", nargs="*", default=[str(DEFAULT_CHECKPOINT)],
                   help="MossNet checkpoints (default: shipped XS x4)")
    args = p.parse_args(argv)
    try:
        models = [(path, load_model(path)[0]) for path in args.ckpt]
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("| checkpoint | worst deviation (levels) | colours off by more than 4 |")
    print("|---|---|---|")
    for path, model in models:
        errors = flat_colour_errors(model)
        off = ", ".join(f"{c}: {e}" for c, e in errors.items() if e > 4) or "none"
        print(f"| {path} | {max(errors.values())} | {off} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
