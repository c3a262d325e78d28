"""The command lines over the runtime layer: ``python -m targets.<runtime> export|upscale``
(the same for every runtime in the registry) and the ``upscale`` command that
``python -m mossnet.upscale`` shares with them."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from mossnet.core.batch import is_batch, plan_batch, run_batch
from mossnet.core.errors import FlagError, run_cli
from mossnet.core.flags import positive, thread_count
from mossnet.core.image_io import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_QUALITY,
    OUTPUT_FORMATS,
    ImageError,
    check_output_path,
)
from mossnet.core.paths import DEFAULT_CHECKPOINT
from mossnet.core.tiling import DEFAULT_PATCH
from mossnet.core.upscaler import Upscaler, same_file

from . import registry
from .manifest import manifest_path
from .threads import default_threads

PROGRESS_MIN_TILES = 16  # show a progress bar from this many tiles on


def quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 100")
    return value


def add_upscale_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="IN OUT (one image; the format follows OUT's suffix), or IN_DIR OUT_DIR, or "
                        "IN [IN ...] OUT_DIR (images and folders into one folder)")
    p.add_argument("--max-pixels", type=positive, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse larger inputs (default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--threads", type=thread_count, default=None,
                   help="CPU threads for the runtime (default: the count the benchmark measured fastest on "
                        "this machine, else all CPUs; see targets/threads.py)")
    p.add_argument("--format", choices=sorted(OUTPUT_FORMATS), default=None,
                   help="format of the files written into an output folder (default png)")
    p.add_argument("--quality", type=quality, default=None,
                   help=f"JPEG / WebP quality, 1 to 100 (default {DEFAULT_QUALITY['JPEG']} / {DEFAULT_QUALITY['WEBP']})")
    p.add_argument("--skip-existing", action="store_true", help="folder outputs: leave outputs that exist alone")
    p.add_argument("--overwrite", action="store_true",
                   help="one image: allow the output to be the input file itself (a batch never overwrites an input)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


class TileBar:
    """A progress callback that shows a tqdm bar once the job turns out to be large enough."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar = quiet, None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet or total < PROGRESS_MIN_TILES:
            return
        if self.bar is None:
            from tqdm import tqdm  # only when a bar is shown: importing it takes about 25 ms
            self.bar = tqdm(total=total, desc="upscaling", unit="tile")
        self.bar.update(done - self.bar.n)
        if done == total:
            self.bar.close()

    def close(self) -> None:
        """End the bar's line (an interrupted run's message then starts on its own line)."""
        if self.bar is not None:
            self.bar.close()


def run_upscale(args: argparse.Namespace, open_upscaler: Callable[[], Upscaler]) -> int:
    """One image (``IN OUT``) or a batch (``IN_DIR OUT_DIR``, ``IN ... OUT_DIR``): check the
    paths, load the programs once, upscale, say what was done."""
    if is_batch(args.paths):
        return run_cli(lambda: _batch(args, open_upscaler))

    def body() -> int:
        src, dst = args.paths
        if args.format is not None:
            raise FlagError(f"--format is for an output folder; {dst}'s suffix gives its format")
        if args.skip_existing and Path(dst).exists():
            if not args.quiet:
                print(f"{dst} exists; skipped", file=sys.stderr)
            return 0
        check_output_path(dst)
        if not args.overwrite and same_file(src, dst):
            raise ImageError(f"{dst}: is the input itself; choose another output (or pass --overwrite)")
        up = open_upscaler()
        bar = TileBar(args.quiet)
        try:
            w, h = up.upscale_file(src, dst, max_pixels=args.max_pixels, progress=bar, overwrite=args.overwrite,
                                   quality=args.quality,
                                   notice=lambda msg: print(f"note: {msg}", file=sys.stderr))
        finally:
            bar.close()
        if not args.quiet:
            print(f"{src} ({w}x{h}) -> {dst} ({w * up.scale}x{h * up.scale}; "
                  f"{up.runtime} {up.precision})", file=sys.stderr)
        return 0
    return run_cli(body)


def _batch(args: argparse.Namespace, open_upscaler: Callable[[], Upscaler]) -> int:
    if len(args.paths) < 2:
        raise FlagError("give an input and an output: IN OUT, IN_DIR OUT_DIR or IN [IN ...] OUT_DIR")
    out_dir, jobs = plan_batch(args.paths, args.format or "png")
    up = open_upscaler()
    result = run_batch(up, out_dir, jobs, max_pixels=args.max_pixels, quality=args.quality,
                       skip_existing=args.skip_existing, quiet=args.quiet)
    if not args.quiet:
        print(f"{result.summary()} -> {out_dir} ({up.runtime} {up.precision})", file=sys.stderr)
    return result.exit_code


def main(runtime_name: str, argv=None) -> int:
    """``python -m targets.<runtime>``: export an artifact, or upscale an image with one (and
    the runtime's own commands: ExecuTorch's ``build-runner``)."""
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
    own = rt.commands(sub)
    args = p.parse_args(argv)
    if args.command in own:
        return run_cli(lambda: own[args.command](args))
    if args.command == "upscale":
        def open_artifact() -> Upscaler:
            rt.set_threads(args.threads or default_threads(rt.name)[0])
            return rt.open(args.artifact)
        return run_upscale(args, open_artifact)

    def body() -> int:
        from .publish import export  # the export toolchain (torch, the converters): not for upscale
        artifact = export(rt, args.ckpt, args.precision, args.out, args.quantized, args.patch)
        from .selftest import selftest_path
        print(f"wrote {artifact}, {manifest_path(artifact).name} and {selftest_path(artifact).name}")
        return 0
    return run_cli(body)
