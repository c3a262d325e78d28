"""The field's x-scale evaluation protocol over benchmark folders, for any upscaler.

HR is cropped to a multiple of the scale, LR comes from the MATLAB-compatible antialiased
bicubic, and PSNR / SSIM are taken on the BT.601 Y channel with ``scale`` pixels shaved from
each border (``mossnet.core.metrics``). ``mossnet.eval`` (the CLI), the quantization reports,
``targets export-all`` and the benchmark all evaluate through ``evaluate``."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from mossnet.core.bicubic import downscale_uint8, upscale_uint8
from mossnet.core.image_io import ImageError, iter_image_files, load_image
from mossnet.core.metrics import psnr_from_mse, y_psnr_ssim

UpscaleFn = Callable[[np.ndarray], np.ndarray]  # LR uint8 HxWx3 -> SR uint8 (sH)x(sW)x3


SSIM_WINDOW = 11


def min_side(scale: int) -> int:
    """The smallest HR side the protocol can score: SSIM's window after the shaved border,
    rounded up to a multiple of the scale."""
    need = SSIM_WINDOW + 2 * scale
    return -(-need // scale) * scale


def lr_hr_pairs(folder: str | Path, scale: int) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, LR, HR) uint8 HxWx3 for every image of a benchmark folder."""
    files = iter_image_files(folder)
    if not files:
        raise ImageError(f"{folder}: no images found")
    for path in files:
        hr = load_image(path, max_pixels=100_000_000).rgb
        h, w = (s - s % scale for s in hr.shape[:2])
        if min(h, w) < min_side(scale):
            raise ImageError(f"{path}: {hr.shape[1]}x{hr.shape[0]} is too small to evaluate at x{scale} "
                             f"(SSIM's 11x11 window after shaving {scale} px needs {min_side(scale)} px a side)")
        hr = hr[:h, :w]
        lr = downscale_uint8(torch.from_numpy(hr).permute(2, 0, 1).double(), scale)
        yield path.name, lr.permute(1, 2, 0).numpy().astype(np.uint8), hr


def bicubic_upscale(scale: int) -> UpscaleFn:
    def fn(lr: np.ndarray) -> np.ndarray:
        up = upscale_uint8(torch.from_numpy(lr).permute(2, 0, 1).double(), scale)
        return up.permute(1, 2, 0).numpy().astype(np.uint8)
    return fn


def evaluate(methods: dict[str, UpscaleFn], folders: list[str], scale: int,
             progress: bool = True, reference: str | None = None) -> dict:
    """{method: {set: {"psnr", "ssim", "images"}, ..., "average": ...}} averaged per set;
    "average" is the mean over sets (the field's convention for a summary row).

    With ``reference`` (a method name), every other method also gets "psnr_vs_reference":
    the RGB PSNR of its output against the reference method's output, over the whole set."""
    results = {m: {} for m in methods}
    for folder in folders:
        set_name = Path(folder).name
        scores = {m: [] for m in methods}
        squared_error = {m: 0.0 for m in methods}
        pixels = 0
        pairs = list(lr_hr_pairs(folder, scale))
        for _, lr, hr in tqdm(pairs, desc=set_name, disable=not progress, leave=False):
            outputs = {m: fn(lr) for m, fn in methods.items()}
            pixels += hr.size
            for m, sr in outputs.items():
                scores[m].append(y_psnr_ssim(sr, hr, scale))
                if reference is not None:
                    squared_error[m] += float(((sr.astype(np.float64) - outputs[reference]) ** 2).sum())
        for m in methods:
            arr = np.array(scores[m])
            results[m][set_name] = {"psnr": float(arr[:, 0].mean()), "ssim": float(arr[:, 1].mean()),
                                    "images": len(arr)}
            if reference is not None and m != reference:
                results[m][set_name]["psnr_vs_reference"] = psnr_from_mse(squared_error[m] / pixels)
    for m in methods:
        sets = list(results[m].values())
        results[m]["average"] = {k: float(np.mean([s[k] for s in sets])) for k in ("psnr", "ssim")}
    return results


def markdown_table(results: dict) -> str:
    methods = list(results)
    sets = [s for s in results[methods[0]] if s != "average"]
    cols = sets + (["average"] if len(sets) > 1 else [])
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for m in methods:
        cells = [f"{results[m][c]['psnr']:.2f} / {results[m][c]['ssim']:.4f}" for c in cols]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
