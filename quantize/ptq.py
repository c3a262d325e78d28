"""int8 post-training quantization: ``python -m quantize.ptq weights/mossnet_xs_x4.pt``.

Calibrates both programs of the tiled pipeline (context, patch upscaler) on real images cut
the way the pipeline cuts them, converts them with the shared recipe (``quantize.recipe``),
and writes a quantized pipeline folder with a float-vs-int8 report (report.json, report.md).
``--report`` adds per-layer sensitivity; ``--float-layers N`` keeps the N most sensitive
layers in float."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from mossnet.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_model
from mossnet.image_io import ImageError
from mossnet.pipeline import model_tiling
from mossnet.tiling import DEFAULT_PATCH

from .calibration import calibration_files, calibration_set
from .program import QuantizedPipeline, calibrate, convert, prepare, save_pipeline, sha256
from .recipe import ACTIVATION_OBSERVERS, DEFAULT_OBSERVER, make_quantizer, recipe_dict
from .report import build_report, compare, default_eval_dirs, markdown, report_files, weight_bytes
from .sensitivity import layer_sensitivity, quantizable_layers


def common_arguments(p: argparse.ArgumentParser, method: str) -> None:
    p.add_argument("ckpt", nargs="?", default=str(DEFAULT_CHECKPOINT),
                   help="float MossNet checkpoint (default: shipped XS x4)")
    p.add_argument("--calib", nargs="+", default=None, metavar="DIR",
                   help="calibration image folders (default: photos installed with scikit-learn "
                        "and the sample card; ../shared/data/train is a good choice)")
    p.add_argument("--num-calib", type=int, default=256, help="calibration tiles (default 256)")
    p.add_argument("--eval", nargs="+", default=None, metavar="DIR",
                   help="benchmark folders for the report (default: Set5, Set14, B100 from "
                        "../shared when present, else the sample card)")
    p.add_argument("--out", default=None, help=f"output folder (default artifacts/<ckpt>_int8_{method})")
    p.add_argument("--patch", type=int, default=None,
                   help=f"LR tile core in pixels the programs are fixed to (default {DEFAULT_PATCH})")
    p.add_argument("--seed", type=int, default=0)


def default_out(ckpt: str | Path, method: str) -> Path:
    """The default pipeline folder of ``quantize.ptq``/``quantize.qat`` (the exporters look there)."""
    return Path("artifacts") / f"{Path(ckpt).stem}_int8_{method}"


def tiling_or_error(model, patch: int | None):
    """The model's tiling at ``--patch``; a bad patch is a one-line user error."""
    try:
        return model_tiling(model, patch=patch)
    except ValueError as exc:
        raise ImageError(f"--patch: {exc}") from None


def check_args(args) -> None:
    if args.num_calib < 1:
        raise ImageError(f"--num-calib must be at least 1 (got {args.num_calib})")
    for folder in args.eval or []:
        if not Path(folder).is_dir():
            raise ImageError(f"{folder}: no such evaluation folder")


def finish(model, args, pipe: QuantizedPipeline, method: str, meta: dict, float_modules=(),
           sensitivity=None) -> int:
    """Evaluate, then write the pipeline folder with its report; print the table."""
    out = Path(args.out) if args.out else default_out(args.ckpt, method)
    dirs = args.eval or default_eval_dirs()
    results = compare(model, pipe.tiling, pipe, dirs, progress=sys.stderr.isatty())
    report = build_report(results, meta, weight_bytes(model, tuple(float_modules)))
    if sensitivity is not None:
        report["sensitivity"] = sensitivity
    pipe.meta = report
    save_pipeline(pipe, out, model, extra_files=report_files(report))
    print(markdown(report))
    print(f"wrote {out}/ (context.pt2, upscale_patch.pt2, quant.json, report.json, report.md)")
    return 0


def base_meta(args, method: str, observer: str, float_modules, calib, files) -> dict:
    return {"method": method, "checkpoint": str(args.ckpt), "checkpoint_sha256": sha256(args.ckpt),
            "recipe": recipe_dict(observer, tuple(float_modules)),
            "calibration": {"source": args.calib or "default (scikit-learn photos + sample card)",
                            "images": len(calib), "tiles": sum(len(c.patches) for c in calib),
                            "seed": args.seed}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m quantize.ptq", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    common_arguments(p, "ptq")
    p.add_argument("--observer", choices=sorted(ACTIVATION_OBSERVERS), default=DEFAULT_OBSERVER,
                   help=f"activation observer (default {DEFAULT_OBSERVER}, chosen by measurement)")
    p.add_argument("--report", action="store_true", help="add per-layer sensitivity to the report")
    p.add_argument("--float-layers", type=int, default=0, metavar="N",
                   help="keep the N most sensitive layers in float (implies --report)")
    p.add_argument("--keep-float", nargs="+", default=[], metavar="LAYER",
                   help="keep these layers (e.g. upscaler.tail) in float")
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    try:
        check_args(args)
        model, _ = load_model(args.ckpt)
        tiling = tiling_or_error(model, args.patch)
        unknown = set(args.keep_float) - set(quantizable_layers(model))
        if unknown:
            raise ImageError(f"--keep-float: no layer named {', '.join(sorted(unknown))}; "
                             f"layers: {', '.join(quantizable_layers(model))}")
        files = calibration_files(args.calib)
        calib = calibration_set(files, tiling, args.num_calib, seed=args.seed)
    except (CheckpointError, ImageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    show = sys.stderr.isatty()
    sensitivity, float_modules = None, list(args.keep_float)
    if args.report or args.float_layers:
        dirs = args.eval or default_eval_dirs()
        sensitivity = layer_sensitivity(model, tiling, calib, dirs[0], args.observer, progress=show)
        float_modules += [r["layer"] for r in sensitivity[:args.float_layers] if r["layer"] not in float_modules]
    start = time.perf_counter()
    ctx, patch = prepare(model, tiling, make_quantizer(observer=args.observer, float_modules=tuple(float_modules)))
    calibrate(model, ctx, patch, calib, progress=lambda it: tqdm(it, desc="calibrating", unit="image",
                                                                 disable=not show))
    pipe = QuantizedPipeline(convert(ctx), convert(patch), tiling)
    meta = base_meta(args, "ptq", args.observer, float_modules, calib, files)
    meta["seconds"] = round(time.perf_counter() - start, 1)
    return finish(model, args, pipe, "ptq", meta, float_modules, sensitivity)


if __name__ == "__main__":
    sys.exit(main())
