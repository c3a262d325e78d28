"""Float vs int8 on the benchmark sets, written as JSON and Markdown beside the pipeline."""
from __future__ import annotations

import json

import torch

from mossnet.core.arch import MossNet
from mossnet.core.evaluation import evaluate
from mossnet.core.paths import EXAMPLES, SHARED_BENCHMARKS
from mossnet.core.pipeline import upscale_with_model
from mossnet.core.tiling import TilingConfig

from .program import QuantizedPipeline
from .recipe import in_float


def default_eval_dirs() -> list[str]:
    """Set5, Set14 and B100 when ``../shared`` is beside the checkout; else the sample card."""
    sets = [SHARED_BENCHMARKS / n for n in ("Set5", "Set14", "B100")]
    if all(s.is_dir() for s in sets):
        return [str(s) for s in sets]
    return [str(EXAMPLES)]


def compare(model: MossNet, tiling: TilingConfig, pipe: QuantizedPipeline, dirs: list[str],
            progress: bool = True) -> dict:
    methods = {"float": lambda lr: upscale_with_model(model, lr, tiling), "int8": pipe.upscale}
    with torch.no_grad():
        return evaluate(methods, dirs, tiling.scale, progress=progress, reference="float")


def weight_bytes(model: MossNet, float_modules: tuple[str, ...] = (), float_modulation: bool = True) -> dict:
    """Bytes of parameters: all float32, and int8 weights + int32 biases (float32 for the
    layers kept in float). Context + patch programs together."""
    fp32 = 4 * sum(p.numel() for p in model.parameters())
    int8 = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d):
            per_weight = 4 if in_float(name, float_modules, float_modulation) else 1
            int8 += module.weight.numel() * per_weight + 4 * module.bias.numel()
    return {"float32": fp32, "int8": int8}


def build_report(results: dict, meta: dict, sizes: dict) -> dict:
    sets = [s for s in results["float"] if s != "average"]
    rows = {s: {"float_psnr": results["float"][s]["psnr"], "float_ssim": results["float"][s]["ssim"],
                "int8_psnr": results["int8"][s]["psnr"], "int8_ssim": results["int8"][s]["ssim"],
                "delta_psnr": results["int8"][s]["psnr"] - results["float"][s]["psnr"],
                "int8_vs_float_psnr": results["int8"][s]["psnr_vs_reference"],
                "images": results["float"][s]["images"]} for s in sets}
    return dict(meta, sets=rows, weight_bytes=sizes)


def float_parts(recipe: dict) -> list[str]:
    """What the recipe keeps in float: the modulation path, then layers by name."""
    modulation = ["context program and FiLM modulation"] if recipe.get("steps", {}).get("float_modulation") else []
    return modulation + list(recipe["float_modules"])


def markdown(report: dict) -> str:
    lines = [f"# {report['method'].upper()} int8 report: {report['checkpoint']}", "",
             f"Recipe: weights {report['recipe']['weights']['granularity']} "
             f"{report['recipe']['weights']['scheme']} int8, activations "
             f"{report['recipe']['activations']['granularity']} {report['recipe']['activations']['scheme']}"
             f" int8 ({report['recipe']['activations']['observer']} observer); float: "
             f"{', '.join(float_parts(report['recipe'])) or 'none'}.", "",
             "x4 Y-PSNR (dB) / SSIM, tiled pipeline; \"int8 vs float\" is the RGB PSNR of the int8 "
             "output against the float output.", "",
             "| set | float | int8 | delta (dB) | int8 vs float (dB) |", "|---|---|---|---|---|"]
    for name, r in report["sets"].items():
        lines.append(f"| {name} | {r['float_psnr']:.2f} / {r['float_ssim']:.4f} | {r['int8_psnr']:.2f} / "
                     f"{r['int8_ssim']:.4f} | {r['delta_psnr']:+.3f} | {r['int8_vs_float_psnr']:.1f} |")
    wb = report["weight_bytes"]
    lines += ["", f"Parameters: {wb['float32'] / 1024:.1f} KiB float32, {wb['int8'] / 1024:.1f} KiB int8 "
              f"(int8 weights, int32 biases)."]
    if report.get("sensitivity"):
        lines += ["", "## Per-layer sensitivity (only that layer quantized)", "",
                  "| layer | Y-PSNR drop (dB) |", "|---|---|"]
        lines += [f"| {r['layer']} | {r['psnr_drop']:+.3f} |" for r in report["sensitivity"]]
    return "\n".join(lines) + "\n"


def report_files(report: dict) -> dict[str, str]:
    return {"report.json": json.dumps(report, indent=1) + "\n", "report.md": markdown(report)}
