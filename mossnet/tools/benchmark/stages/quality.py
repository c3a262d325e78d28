"""Stage ``quality``: ``mossnet.core.evaluation.evaluate`` (x4, MATLAB-bicubic LR, Y-PSNR / SSIM
with 4 px shaved) per benchmark set through each method's real runtime, loaded in this process
after the thread policy was applied; plus, for every method, the RGB PSNR of its output against
float eager over each set, and the crops of the image grid."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from mossnet.core.evaluation import evaluate, lr_hr_pairs

from ..methods import HEADLINE, REFERENCE
from . import Settings

GRID_IMAGES = [("Set5", "butterfly.png"), ("Set14", "comic.png"), ("B100", None)]  # None: first file
CROP_LR = 40  # LR side of the grid crops (160 px at x4)


def run(s: Settings, loaded: dict, log) -> dict:
    """{key: {set: {psnr, ssim, images[, psnr_vs_reference]}, "average": {...}}}."""
    fns = {k: m.upscale for k, m in loaded.items() if m.method.quality}
    log(f"quality: {', '.join(Path(d).name for d in s.set_dirs)} ({', '.join(fns)})")
    return evaluate(fns, list(s.set_dirs), 4, progress=sys.stderr.isatty(),
                    reference=REFERENCE if REFERENCE in fns else None)


def grid_columns(loaded: dict) -> list[str]:
    """bicubic, float, and every int8 build that runs the PTQ pipeline (one per runtime)."""
    int8 = [k for k, m in loaded.items() if m.method.precision and m.method.precision.quantized_by == "ptq"
            and m.method.exported]
    firsts = list({loaded[k].method.runtime.name: k for k in reversed(int8)}.values())[::-1]
    firsts.sort(key=lambda k: k != HEADLINE)
    return [k for k in ("bicubic-pil", REFERENCE) if k in loaded] + firsts


def grid_images(set_dirs: list[str]) -> list[tuple[str, Path]]:
    by_name = {Path(d).name: Path(d) for d in set_dirs}
    out = []
    for set_name, file in GRID_IMAGES:
        folder = by_name.get(set_name)
        if folder is None:
            continue
        path = folder / file if file else next(iter(sorted(folder.glob("*.png"))), None)
        if path is not None and path.is_file():
            out.append((set_name, path))
    return out or [(Path(set_dirs[0]).name, sorted(Path(set_dirs[0]).glob("*.png"))[0])]


def detailed_crop(hr: np.ndarray, side: int, scale: int = 4) -> tuple[int, int]:
    """LR (y, x) of the crop with the most gradient energy in the HR image (deterministic)."""
    g = hr.astype(np.float32).mean(axis=2)
    energy = np.abs(np.diff(g, axis=0))[:, :-1] + np.abs(np.diff(g, axis=1))[:-1]
    best, pos = -1.0, (0, 0)
    lr_h, lr_w = hr.shape[0] // scale, hr.shape[1] // scale
    for y in range(0, max(1, lr_h - side), 8):
        for x in range(0, max(1, lr_w - side), 8):
            e = float(energy[y * scale:(y + side) * scale, x * scale:(x + side) * scale].sum())
            if e > best:
                best, pos = e, (y, x)
    return pos


def grid_rows(s: Settings, loaded: dict, log) -> list[dict]:
    """For each grid image: the same LR-position crop of every column's output and the ground truth."""
    from mossnet.core.metrics import y_psnr_ssim
    log("grid images")
    rows = []
    for set_name, path in grid_images(list(s.set_dirs)):
        _, lr, hr = next(lr_hr_pairs(path, 4))
        y, x = detailed_crop(hr, CROP_LR)
        sl = (slice(4 * y, 4 * (y + CROP_LR)), slice(4 * x, 4 * (x + CROP_LR)))
        cells = []
        for key in grid_columns(loaded):
            sr = loaded[key].upscale(lr)
            cells.append((loaded[key].method.label, sr[sl], y_psnr_ssim(sr, hr, 4)[0]))
        cells.append(("ground truth", hr[sl], None))
        rows.append({"name": f"{set_name}/{path.name}", "cells": cells})
    return rows
