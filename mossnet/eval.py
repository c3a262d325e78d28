"""Benchmark a checkpoint the way the SR field does: ``python -m mossnet.eval --ckpt X --data DIR``.

Protocol: HR cropped to a multiple of the scale, LR from the MATLAB-compatible antialiased
bicubic, PSNR and SSIM on the BT.601 Y channel with ``scale`` pixels shaved from each border.
Bicubic upscaling is reported in the same table as the baseline. The model runs through the
product's tiled pipeline, exactly as ``mossnet.upscale`` does."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mossnet.core.errors import quiet_interrupts

if __name__ == "__main__":  # before torch's seconds of importing: Ctrl-C there is one line too
    quiet_interrupts()


from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, load_model
from mossnet.core.errors import run_cli
from mossnet.core.evaluation import bicubic_upscale, evaluate, markdown_table
from mossnet.core.image_io import ImageError, iter_image_files
from mossnet.core.pipeline import model_tiling, upscale_with_model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT), help="MossNet checkpoint (default: shipped XS x4)")
    p.add_argument("--data", nargs="+", required=True, help="benchmark folders of HR images (e.g. Set5)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    p.add_argument("--no-bicubic", action="store_true", help="skip the bicubic baseline row")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars (--json implies it)")
    args = p.parse_args(argv)
    return run_cli(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """The command's body; its errors go through ``run_cli``, the one error path."""
    for folder in args.data:
        if not Path(folder).is_dir():
            raise ImageError(f"{folder}: no such folder")
        if not iter_image_files(folder):
            raise ImageError(f"{folder}: no images found")
    model, ckpt = load_model(args.ckpt)
    tiling = model_tiling(model)
    methods = {} if args.no_bicubic else {"bicubic": bicubic_upscale(model.cfg.scale)}
    name = f"{ckpt['arch']} x{model.cfg.scale}" + ("" if model.cfg.context else " (no context)")
    methods[name] = lambda lr: upscale_with_model(model, lr, tiling)
    results = evaluate(methods, args.data, model.cfg.scale, progress=not (args.json or args.quiet))
    if args.json:
        print(json.dumps({"scale": model.cfg.scale, "checkpoint": args.ckpt, "results": results}, indent=1))
    else:
        print(f"x{model.cfg.scale} Y-PSNR (dB) / SSIM, {model.cfg.scale} px shaved, MATLAB-bicubic LR")
        print(markdown_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
