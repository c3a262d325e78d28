"""Per-layer sensitivity: the Y-PSNR drop when only one layer is quantized.

Layers are ranked by that drop; ``--float-layers N`` keeps the N worst in float (mixed
precision) and the report shows what that costs in bytes and buys in dB."""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from mossnet.core.arch import MossNet
from mossnet.core.evaluation import lr_hr_pairs
from mossnet.core.metrics import y_psnr_ssim
from mossnet.core.pipeline import upscale_with_model
from mossnet.core.tiling import TilingConfig

from .calibration import CalibrationImage
from .recipe import DEFAULT_STEPS, in_float, single_layer_quantizer
from .steps import build_pipeline


def quantizable_layers(model: MossNet, float_modulation: bool = False) -> list[str]:
    """Every convolution; with ``float_modulation`` the context's are float anyway."""
    return [name for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)
            and not in_float(name, float_modulation=float_modulation)]


def mean_y_psnr(upscale, pairs, scale: int) -> float:
    return float(np.mean([y_psnr_ssim(upscale(lr), hr, scale)[0] for lr, hr in pairs]))


@torch.no_grad()
def layer_sensitivity(model: MossNet, tiling: TilingConfig, calib: list[CalibrationImage],
                      eval_dir: str, observer: str, progress: bool = True, steps: dict | None = None) -> list[dict]:
    """[{"layer", "psnr_drop"}], most sensitive first, measured on ``eval_dir``, each layer
    quantized alone through the recipe's steps (``steps``: the PTQ run's)."""
    pairs = [(lr, hr) for _, lr, hr in lr_hr_pairs(eval_dir, tiling.scale)]
    base = mean_y_psnr(lambda lr: upscale_with_model(model, lr, tiling), pairs, tiling.scale)
    rows, steps = [], dict(DEFAULT_STEPS, **(steps or {}))
    for layer in tqdm(quantizable_layers(model, steps["float_modulation"]), desc="sensitivity", disable=not progress):
        quantizer = single_layer_quantizer(layer, observer, steps["float_modulation"], steps["pixel_grid_output"])
        pipe, _ = build_pipeline(model, tiling, calib, steps=steps, quantizer=quantizer)
        rows.append({"layer": layer, "psnr_drop": base - mean_y_psnr(pipe.upscale, pairs, tiling.scale)})
    return sorted(rows, key=lambda r: -r["psnr_drop"])
