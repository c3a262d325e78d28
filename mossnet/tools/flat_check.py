"""Flat colours must stay flat, and no sub-pixel grid: ``python -m mossnet.tools.flat_check [MODEL ...]``.

MODEL is a checkpoint (``.pt``), an int8 pipeline folder or an exported artifact (``.pte``,
``.tflite``, ``.coreml``): anything ``mossnet.load`` opens. Each flat colour of
{0, 128, 255}^3 and a few mid-tones, a smooth gradient and ``examples/photo.png`` go through
the model's own tiled programs (``mossnet.core.flatness``); the table gives the worst
deviation of a flat colour from itself and the sub-pixel grid (the largest offset among the
4x4 phase means of the high-pass residual, ``mossnet.core.metrics.subpixel_grid``) on the
flats, the gradient and the photo, all in uint8 levels. Bounds (issue 20): flats within
2 levels, grid at most 0.15 on flats and gradients; ``--strict`` exits 1 beyond them.
``--random-colours N`` adds a column: the grid on N other flat colours drawn at random (the
same every run; ``--random-seed`` draws others). Most of them have no channel at 0 or 255,
where the check's own colours clip half of any error away. The column gives the mean, the
largest and its colour, and how many exceed the 0.15 bound; it is not judged.
An earlier XS turned an all-black image into a 34-level sub-pixel grid; the first int8
builds drew a 1.7-level grid on every flat colour."""
from __future__ import annotations

import argparse
import itertools
import sys

import numpy as np
import torch

from mossnet.core.arch import MossNet
from mossnet.core.checkpoint import DEFAULT_CHECKPOINT
from mossnet.core.errors import run_cli
from mossnet.core.flags import positive
from mossnet.core.flatness import FLAT_BOUND, GRID_BOUND, LEVELS, RANDOM_SEED, flatness
from mossnet.core.pipeline import model_tiling, upscale_with_model


@torch.no_grad()
def flat_colour_errors(model: MossNet, size: tuple[int, int] = (24, 40)) -> dict[tuple, int]:
    """{(r, g, b): largest |output - colour| over the upscaled flat image} (float checkpoints)."""
    tiling = model_tiling(model)
    errors = {}
    for rgb in itertools.product(LEVELS, repeat=3):
        lr = np.broadcast_to(np.array(rgb, np.uint8), (*size, 3)).copy()
        sr = upscale_with_model(model, lr, tiling)
        errors[rgb] = int(np.abs(sr.astype(np.int16) - np.array(rgb, np.int16)).max())
    return errors


def check(path: str, random_colours: int = 0, random_seed: int = RANDOM_SEED) -> dict:
    """``mossnet.core.flatness`` on whatever ``mossnet.load`` opens at ``path``."""
    import mossnet
    up = mossnet.load(path)
    with torch.no_grad():
        return flatness(up.context_fn, up.patch_fn, up.tiling, random_colours=random_colours,
                        random_seed=random_seed)


def row(path: str, r: dict) -> str:
    random = r.get("random_flats")
    extra = (f" {random['grid_mean_levels']:.2f} / {random['grid_max_levels']:.2f} "
             f"({tuple(random['grid_max_colour'])}), {random['over_bound']} over |" if random else "")
    return (f"| {path} | {r['flat_worst_levels']} ({tuple(r['flat_worst_colour'])}) | {r['flat_grid_levels']:.2f} | "
            f"{r['gradient_grid_levels']:.2f} | {r.get('photo_grid_levels', float('nan')):.2f} |{extra} "
            f"{'yes' if r['pass'] else 'no'} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.flat_check", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", default=[str(DEFAULT_CHECKPOINT)], metavar="MODEL",
                   help="checkpoints, int8 pipeline folders or exported artifacts (default: shipped XS x4)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a model is beyond the bounds")
    p.add_argument("--random-colours", type=positive, default=0, metavar="N",
                   help="also the grid on N other flat colours drawn at random, the same every run")
    p.add_argument("--random-seed", type=int, default=RANDOM_SEED, metavar="S",
                   help=f"which random colours: another seed draws others (default: {RANDOM_SEED})")
    args = p.parse_args(argv)

    def run() -> int:
        results = [(path, check(path, args.random_colours, args.random_seed)) for path in args.models]
        random = (f" grid: {args.random_colours} random flats (mean / max (colour), how many over {GRID_BOUND}) |"
                  if args.random_colours else "")
        print(f"| model | worst flat deviation (levels, colour) | grid: flats | grid: gradient | grid: photo |{random} "
              f"within bounds (flats <= {FLAT_BOUND} levels, grid on flats and gradient <= {GRID_BOUND}) |")
        print("|---|---|---|---|---|" + ("---|" if args.random_colours else "") + "---|")
        for path, r in results:
            print(row(path, r))
        return 1 if args.strict and not all(r["pass"] for _, r in results) else 0
    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
