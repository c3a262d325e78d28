"""int8 post-training quantization: ``python -m quantize.ptq weights/mossnet_xs_x4.pt``.

Calibrates both programs of the tiled pipeline (context, patch upscaler) on real images cut
the way the pipeline cuts them (``quantize.calibration``: scales, crops, flips, dark and vivid
versions), converts them with the shared recipe (``quantize.recipe``; the context program and
the FiLM modulation stay float, ``--[no-]float-modulation``; the output is quantized on the
uint8 pixel grid, ``--[no-]pixel-grid-output``), then learns the int8
weights' rounding (``--[no-]adaround``) and corrects the biases against float
(``--[no-]bias-correction``); ``--[no-]cle`` equalizes the float weights first (off by
default), ``--[no-]act-equalization`` the activations' per-channel ranges (on). Writes a
quantized pipeline folder with a float-vs-int8 report (report.json, report.md). ``--report``
adds per-layer sensitivity (each layer quantized alone, through the same steps);
``--float-layers N`` keeps the N most sensitive layers in float."""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mossnet.core.errors import quiet_interrupts

if __name__ == "__main__":  # before torch's seconds of importing: Ctrl-C there is one line too
    quiet_interrupts()

import torch

from mossnet.core.checkpoint import load_model
from mossnet.core.errors import FlagError, run_cli

from .build import (
    QuantizeOptions,
    add_common_arguments,
    base_meta,
    check,
    finish,
    print_result,
    tiling_for,
)
from .calibration import calibration_files, calibration_set
from .recipe import ACTIVATION_OBSERVERS, DEFAULT_OBSERVER, DEFAULT_STEPS
from .report import default_eval_dirs
from .sensitivity import layer_sensitivity, quantizable_layers
from .steps import build_pipeline, kept_float


@dataclass
class PTQOptions(QuantizeOptions):
    observer: str = DEFAULT_OBSERVER
    report: bool = False  # per-layer sensitivity in the report
    float_layers: int = 0  # keep the N most sensitive layers in float
    keep_float: tuple[str, ...] = ()  # keep these layers in float
    float_modulation: bool = DEFAULT_STEPS["float_modulation"]  # quantize.recipe
    pixel_grid_output: bool = DEFAULT_STEPS["pixel_grid_output"]  # quantize.recipe
    cle: bool = DEFAULT_STEPS["cle"]  # quantize.equalize
    act_equalization: bool = DEFAULT_STEPS["act_equalization"]  # quantize.equalize
    adaround: bool = DEFAULT_STEPS["adaround"]  # quantize.adaround
    bias_correction: bool = DEFAULT_STEPS["bias_correction"]  # quantize.correction
    phase_balance: bool = DEFAULT_STEPS["phase_balance"]  # quantize.balance
    float_unbalanced_up: bool = DEFAULT_STEPS["float_unbalanced_up"]  # quantize.balance

    def steps(self) -> dict:
        return {step: getattr(self, step) for step in DEFAULT_STEPS}


def quantize_ptq(opts: PTQOptions) -> tuple[Path, dict]:
    """Post-training quantization of ``opts.ckpt``; (pipeline folder, report)."""
    torch.manual_seed(opts.seed)
    check(opts)
    model, _ = load_model(opts.ckpt)
    tiling = tiling_for(model, opts.patch)
    unknown = set(opts.keep_float) - set(quantizable_layers(model))
    if unknown:
        raise FlagError(f"--keep-float: no layer named {', '.join(sorted(unknown))}; "
                         f"layers: {', '.join(quantizable_layers(model))}")
    if opts.observer not in ACTIVATION_OBSERVERS:
        raise FlagError(f"--observer: choose from {', '.join(sorted(ACTIVATION_OBSERVERS))}")
    files = calibration_files(opts.calib)
    calib = calibration_set(files, tiling, opts.num_calib, seed=opts.seed)
    sensitivity, float_modules = None, list(opts.keep_float)
    if opts.report or opts.float_layers:
        dirs = opts.eval or default_eval_dirs()
        sensitivity = layer_sensitivity(model, tiling, calib, dirs[0], opts.observer, progress=opts.progress,
                                        steps=opts.steps())
        float_modules += [r["layer"] for r in sensitivity[:opts.float_layers] if r["layer"] not in float_modules]
    float_modules = kept_float(model, tuple(float_modules), opts.steps())  # what the report and manifest name
    start = time.perf_counter()
    pipe, steps = build_pipeline(model, tiling, calib, opts.observer, float_modules, opts.steps(),
                                 seed=opts.seed, progress=opts.progress)
    meta = base_meta(opts, "ptq", opts.observer, float_modules, calib, len(files), opts.steps())
    meta["step_details"] = steps
    meta["seconds"] = round(time.perf_counter() - start, 1)
    return finish(model, opts, pipe, "ptq", meta, float_modules, sensitivity)


STEP_HELP = {
    "float_modulation": "float context program and FiLM scale/shift; off: int8, one shared range (quantize.recipe)",
    "pixel_grid_output": "the patch program's output quantized on the uint8 pixel grid (quantize.recipe)",
    "cle": "cross-layer equalization of the float weights (quantize.equalize)",
    "act_equalization": "per-channel equalization of the activations' ranges on the calibration tiles "
                        "(quantize.equalize)",
    "adaround": "learned rounding of the int8 weights (quantize.adaround); off: nearest",
    "bias_correction": "empirical bias correction of every convolution against float (quantize.correction)",
    "phase_balance": "keep depth-to-space convs trained balanced (mossnet.train --balanced-phases) balanced "
                     "in int8: no sub-pixel grid from rounding on flat areas (quantize.balance); nothing for others",
    "float_unbalanced_up": "with a balanced tail, keep each unbalanced U-Net up conv and the decoder conv after it "
                           "in float: their pattern on flat areas would round differently per phase (quantize.balance)",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m quantize.ptq", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p, "ptq")
    p.add_argument("--observer", choices=sorted(ACTIVATION_OBSERVERS), default=DEFAULT_OBSERVER,
                   help=f"activation observer (default {DEFAULT_OBSERVER}, chosen by measurement)")
    p.add_argument("--report", action="store_true", help="add per-layer sensitivity to the report")
    p.add_argument("--float-layers", type=int, default=0, metavar="N",
                   help="keep the N most sensitive layers in float (implies --report)")
    p.add_argument("--keep-float", nargs="+", default=[], metavar="LAYER",
                   help="keep these layers (e.g. upscaler.tail) in float")
    for step, text in STEP_HELP.items():
        p.add_argument("--" + step.replace("_", "-"), dest=step, action=argparse.BooleanOptionalAction,
                       default=DEFAULT_STEPS[step], help=f"{text} (default: {'on' if DEFAULT_STEPS[step] else 'off'})")
    return p


def options(argv=None) -> PTQOptions:
    args = parser().parse_args(argv)
    opts = PTQOptions.from_args(args)
    opts.keep_float, opts.progress = tuple(args.keep_float), sys.stderr.isatty()
    return opts


def main(argv=None) -> int:
    opts = options(argv)
    return run_cli(lambda: print_result(*quantize_ptq(opts)))


if __name__ == "__main__":
    sys.exit(main())
