"""Issue 20's PTQ steps, each alone and together: ``python -m quantize.ablation [CKPT]``.

Builds, in one process and on the same calibration, the int8 pipeline of every row below and
prints one table: x4 Y-PSNR against float on each benchmark set (Set5 and Set14 from
``../shared`` when present: B100 holds five times their images, for each of eighteen pipelines;
the default's B100 figure is in ``quantize.ptq``'s report), then the worst flat-colour
deviation and the sub-pixel grid on the flats, the gradient and the photo
(``mossnet.core.flatness``; the photo's figure is the grid of the int8 output minus the float
output, so that the photo's own content does not count). Nothing is written: ``quantize.ptq``
builds the default pipeline."""
from __future__ import annotations

import argparse
import sys

from mossnet.core.errors import quiet_interrupts

if __name__ == "__main__":
    quiet_interrupts()

import numpy as np
import torch

from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, load_model
from mossnet.core.errors import run_cli
from mossnet.core.evaluation import evaluate
from mossnet.core.flatness import flatness, photo_image
from mossnet.core.metrics import subpixel_grid
from mossnet.core.pipeline import model_tiling, upscale_with_model

from .calibration import calibration_files, calibration_set, describe
from .recipe import DEFAULT_STEPS
from .report import default_eval_dirs, weight_bytes
from .steps import build_pipeline, kept_float

NONE = dict.fromkeys(DEFAULT_STEPS, False)
FM = dict(NONE, float_modulation=True)
FM_AR_BC = dict(FM, adaround=True, bias_correction=True)
PG_AE = dict(FM_AR_BC, pixel_grid_output=True, act_equalization=True)
DEFAULT = dict(PG_AE, phase_balance=True, float_unbalanced_up=True)
# (row, augmented calibration, steps, float layers)
ROWS = [
    ("before issue 20: 13 tiles of 3 images, int8 modulation, nearest rounding", False, NONE, ()),
    ("calibration: varied tiles (scales, crops, flips, dark, vivid)", True, NONE, ()),
    ("calibration + learned rounding", True, dict(NONE, adaround=True), ()),
    ("calibration + bias correction", True, dict(NONE, bias_correction=True), ()),
    ("calibration + learned rounding + bias correction", True, dict(NONE, adaround=True, bias_correction=True), ()),
    ("calibration + float modulation", True, FM, ()),
    ("calibration + float modulation + CLE", True, dict(FM, cle=True), ()),
    ("calibration + float modulation + learned rounding", True, dict(FM, adaround=True), ()),
    ("calibration + float modulation + bias correction", True, dict(FM, bias_correction=True), ()),
    ("calibration + float modulation + learned rounding + bias correction", True, FM_AR_BC, ()),
    ("calibration + float modulation + output on the pixel grid", True, dict(FM, pixel_grid_output=True), ()),
    ("calibration + float modulation + activation equalization", True, dict(FM, act_equalization=True), ()),
    ("calibration + float modulation + pixel grid + activation equalization", True,
     dict(FM, pixel_grid_output=True, act_equalization=True), ()),
    ("calibration + float modulation + pixel grid + activation equalization + learned rounding + bias correction",
     True, PG_AE, ()),
    ("the same + phase balance", True, dict(PG_AE, phase_balance=True), ()),
    ("the same + an unbalanced up conv and the conv after it in float", True, DEFAULT, ()),
    ("the same + CLE", True, dict(DEFAULT, cle=True), ()),
    ("the same without CLE, last decoder conv + tail in float too (mixed precision)", True,
     DEFAULT, ("upscaler.dec.0.0.conv", "upscaler.tail")),
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m quantize.ablation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpt", nargs="?", default=str(DEFAULT_CHECKPOINT))
    p.add_argument("--eval", nargs="+", default=None, metavar="DIR",
                   help="benchmark folders (default: Set5 and Set14; the PTQ report has B100)")
    p.add_argument("--rows", nargs="+", type=int, default=None, metavar="I", help="only these rows (0-based)")
    args = p.parse_args(argv)

    def run() -> int:
        model, _ = load_model(args.ckpt)
        tiling = model_tiling(model)
        files = calibration_files(None)
        rows = [ROWS[i] for i in (args.rows or range(len(ROWS)))]
        calib = {aug: calibration_set(files, tiling, 256, augment=aug) for aug in {r[1] for r in rows}}
        methods = {"float": lambda lr: upscale_with_model(model, lr, tiling)}
        checks = {}
        photo = photo_image()
        float_photo = upscale_with_model(model, photo, tiling).astype(np.float64) if photo is not None else None
        for name, aug, steps, float_layers in rows:
            print(f"building: {name}", file=sys.stderr, flush=True)
            pipe, _ = build_pipeline(model, tiling, calib[aug], float_modules=float_layers, steps=steps)
            methods[name] = pipe.upscale
            with torch.no_grad():
                checks[name] = flatness(*pipe.programs(), tiling, photo=False)
                if photo is not None:
                    checks[name]["photo_grid_levels"] = subpixel_grid(pipe.upscale(photo) - float_photo)
        with torch.no_grad():
            results = evaluate(methods, args.eval or default_eval_dirs()[:2], tiling.scale, progress=False)
        sets = [s for s in results["float"] if s != "average"]
        print("| PTQ recipe | " + " | ".join(f"{s} (dB vs float)" for s in sets)
              + " | worst flat (levels) | grid: flats | grid: gradient | grid: photo (int8 - float) | weights (KiB) |")
        print("|---|" + "---|" * (len(sets) + 5))
        for name, aug, steps, float_layers in rows:
            c = checks[name]
            default = " **(default)**" if aug and steps == DEFAULT_STEPS and not float_layers else ""
            print(f"| {name}{default} | " + " | ".join(f"{results[name][s]['psnr'] - results['float'][s]['psnr']:+.3f}"
                                                      for s in sets)
                  + f" | {c['flat_worst_levels']} | {c['flat_grid_levels']:.2f} | {c['gradient_grid_levels']:.2f} | "
                  f"{c.get('photo_grid_levels', float('nan')):.2f} | "
                  f"{weight_bytes(model, kept_float(model, float_layers, steps), steps['float_modulation'])['int8'] / 1024:.1f} |")
        d = {aug: describe(c, len(files)) for aug, c in calib.items()}
        print()
        print("Calibration: " + "; ".join(f"{'varied' if aug else 'before'}: {v['tiles']} tiles from "
                                          f"{v['images']} images ({v['source_images']} source images)"
                                          for aug, v in sorted(d.items())))
        return 0
    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
