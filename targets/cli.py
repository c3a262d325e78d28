"""The command lines over the runtime layer: ``python -m targets.<runtime> export|upscale``
(the same for every runtime in the registry) and the ``upscale`` command that
``python -m mossnet.upscale`` shares with them."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from tqdm import tqdm

from mossnet.core.checkpoint import DEFAULT_CHECKPOINT
from mossnet.core.errors import run_cli
from mossnet.core.image_io import DEFAULT_MAX_PIXELS, check_output_path
from mossnet.core.tiling import DEFAULT_PATCH
from mossnet.core.upscaler import Upscaler

from . import registry
from .manifest import manifest_path
from .publish import export

PROGRESS_MIN_TILES = 16  # show a progress bar from this many tiles on


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_upscale_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="image to upscale (PNG, JPEG, WebP, BMP, TIFF)")
    p.add_argument("output", help="where to write the result; the format follows the suffix")
    p.add_argument("--max-pixels", type=positive, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse larger inputs (default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--threads", type=positive, default=None, help="CPU threads for the runtime")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


class TileBar:
    """A progress callback that shows a tqdm bar once the job turns out to be large enough."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet or total < PROGRESS_MIN_TILES:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, desc="upscaling", unit="tile")
        self.bar.update(done - self.bar.n)
        if done == total:
            self.bar.close()


def run_upscale(args: argparse.Namespace, open_upscaler: Callable[[], Upscaler]) -> int:
    """Check the output path, load, upscale the file, say what was done."""
    def body() -> int:
        check_output_path(args.output)
        up = open_upscaler()
        w, h = up.upscale_file(args.input, args.output, max_pixels=args.max_pixels, progress=TileBar(args.quiet))
        if not args.quiet:
            print(f"{args.input} ({w}x{h}) -> {args.output} ({w * up.scale}x{h * up.scale}; "
                  f"{up.runtime} {up.precision})", file=sys.stderr)
        return 0
    return run_cli(body)


def main(runtime_name: str, argv=None) -> int:
    """``python -m targets.<runtime>``: export an artifact, or upscale an image with one."""
    rt = registry.get(runtime_name)
    p = argparse.ArgumentParser(prog=f"python -m targets.{rt.name}",
                                description=sys.modules[type(rt).__module__].__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="export the two programs to one artifact + manifest")
    e.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT), help="float checkpoint (default: shipped XS x4)")
    e.add_argument("--precision", choices=[pr.name for pr in rt.precisions], default=rt.default_precision,
                   help=f"default {rt.default_precision}")
    e.add_argument("--quantized", default=None, metavar="DIR",
                   help="quantized pipeline folder for int8 (default artifacts/<ckpt>_int8_<ptq|qat>)")
    e.add_argument("--out", default=f"artifacts/{rt.name}", help=f"output folder (default artifacts/{rt.name})")
    e.add_argument("--patch", type=positive, default=None,
                   help=f"LR tile core in pixels (default {DEFAULT_PATCH}; int8: the quantized pipeline's)")
    u = sub.add_parser("upscale", help="upscale an image with an artifact in the real runtime")
    add_upscale_arguments(u)
    u.add_argument("--artifact", required=True, help="the exported artifact (its manifest must be beside it)")
    args = p.parse_args(argv)
    if args.command == "upscale":
        def open_artifact() -> Upscaler:
            rt.set_threads(args.threads)
            return rt.open(args.artifact)
        return run_upscale(args, open_artifact)

    def body() -> int:
        artifact = export(rt, args.ckpt, args.precision, args.out, args.quantized, args.patch)
        print(f"wrote {artifact} and {manifest_path(artifact).name}")
        return 0
    return run_cli(body)
