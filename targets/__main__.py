"""``python -m targets export-all``: every artifact at every precision, one summary table.

Runs ``quantize.ptq`` / ``quantize.qat`` first when their pipeline folders are missing, then
exports ExecuTorch (fp32, int8-ptq, int8-qat), Core ML (fp32, fp16, w8, w8a8) and LiteRT
(fp32, int8), and prints for each: size, parity against its reference, Y-PSNR on the
benchmark sets through the real runtime (the MIL interpreter for Core ML on Linux), and the
median latency of one patch on this machine."""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from mossnet.checkpoint import DEFAULT_CHECKPOINT, CheckpointError
from mossnet.eval import evaluate
from mossnet.image_io import ImageError, atomic_write
from mossnet.tiling import upscale_tiled

from .common import ExportError, default_quantized_dir
from .manifest import ManifestError, tiling_of

BUILDS = [("executorch", "fp32"), ("executorch", "int8-ptq"), ("executorch", "int8-qat"),
          ("coreml", "fp32"), ("coreml", "fp16"), ("coreml", "w8"), ("coreml", "w8a8"),
          ("tflite", "fp32"), ("tflite", "int8")]
QUANTIZED_BY = {"int8-ptq": "ptq", "int8-qat": "qat", "w8a8": "ptq", "int8": "ptq"}


def patch_latency_ms(programs, manifest, runs: int = 20) -> float:
    context_fn, patch_fn = programs
    rng = np.random.default_rng(0)
    thumb_shape = manifest["programs"]["context"]["inputs"][0]["shape"]
    patch_shape = manifest["programs"]["upscale_patch"]["inputs"][0]["shape"]
    modulation = context_fn(rng.random(thumb_shape, dtype=np.float32))
    patch = rng.random(patch_shape, dtype=np.float32)
    for _ in range(3):
        patch_fn(patch, modulation)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        patch_fn(patch, modulation)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def ensure_quantized(ckpt: str, method: str, calib: list[str] | None) -> None:
    if default_quantized_dir(ckpt, method).exists():
        return
    module = __import__(f"quantize.{method}", fromlist=["main"])
    argv = [ckpt] + (["--calib", *calib] if calib else []) + (["--data", *calib] if calib and method == "qat" else [])
    if module.main(argv) != 0:
        raise ExportError(f"quantize.{method} failed")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m targets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export-all", help="build and measure every artifact")
    e.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT))
    e.add_argument("--out", default="artifacts", help="root folder (default artifacts)")
    e.add_argument("--calib", nargs="+", default=None, help="calibration/QAT images when quantizing")
    e.add_argument("--eval", nargs="+", default=None, help="benchmark folders (default Set5, Set14 from ../shared)")
    e.add_argument("--only", nargs="+", default=None, metavar="RUNTIME:PRECISION", help="a subset, e.g. tflite:int8")
    args = p.parse_args(argv)
    from quantize.report import default_eval_dirs
    dirs = args.eval or default_eval_dirs()[:2]
    builds = [b for b in BUILDS if not args.only or f"{b[0]}:{b[1]}" in args.only]
    rows = []
    try:
        for method in sorted({QUANTIZED_BY[pr] for _, pr in builds if pr in QUANTIZED_BY}):
            ensure_quantized(args.ckpt, method, args.calib)
        for runtime, precision in builds:
            exporter = __import__(f"targets.{runtime}.exporter", fromlist=["export"])
            runner = __import__(f"targets.{runtime}.runner", fromlist=["load"])
            method = QUANTIZED_BY.get(precision)
            quantized = str(default_quantized_dir(args.ckpt, method)) if method else None
            print(f"exporting {runtime} {precision} ...", file=sys.stderr, flush=True)
            artifact = exporter.export(args.ckpt, precision, Path(args.out) / runtime, quantized)
            programs, manifest = runner.load(artifact)
            tiling = tiling_of(manifest)
            results = evaluate({"artifact": lambda lr: upscale_tiled(lr, *programs, tiling)}, dirs, tiling.scale,
                               progress=False)["artifact"]
            interpreted = runtime == "coreml" and sys.platform != "darwin"
            rows.append({"runtime": runtime, "precision": precision, "artifact": str(artifact),
                         "patch": tiling.patch, "bytes": manifest["artifact"]["bytes"], "parity_db": manifest["parity"]["output_psnr_db"],
                         "parity_reference": manifest["parity"]["reference"],
                         "y_psnr": {k: v["psnr"] for k, v in results.items() if k != "average"},
                         "patch_ms": None if interpreted else patch_latency_ms(programs, manifest)})
    except (CheckpointError, ImageError, ManifestError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sets = list(rows[0]["y_psnr"]) if rows else []
    lines = [f"Measured on {platform.machine()} {platform.system()} ({platform.processor() or 'cpu'}), "
             f"patch {rows[0]['patch'] if rows else '?'} LR px; Core ML runs in targets.coreml.mil_interpreter off macOS (no latency).", "",
             "| runtime | precision | size (KiB) | parity (dB) vs | " + " | ".join(f"{s} Y-PSNR" for s in sets)
             + " | ms / patch |", "|---" * (5 + len(sets)) + "|"]
    for r in rows:
        latency = "n/a" if r["patch_ms"] is None else f"{r['patch_ms']:.1f}"
        lines.append(f"| {r['runtime']} | {r['precision']} | {r['bytes'] / 1024:.0f} | {r['parity_db']:.1f} vs "
                     f"{r['parity_reference']} | " + " | ".join(f"{r['y_psnr'][s]:.2f}" for s in sets)
                     + f" | {latency} |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    atomic_write(out / "summary.json", lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=1) + "\n"))
    atomic_write(out / "summary.md", lambda tmp: Path(tmp).write_text(table + "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
