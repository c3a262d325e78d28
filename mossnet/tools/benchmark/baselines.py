"""Baselines that need no download: PIL bicubic, and the ESPCN architecture (Shi et al. 2016)
with random weights as a speed-only reference (no trained weights of any other SR model are
available offline, so it has no quality numbers)."""
from __future__ import annotations

import numpy as np
from PIL import Image


def pil_bicubic(scale: int):
    """LR uint8 HxWx3 -> PIL bicubic upscale (what an app gets from the platform resizer)."""
    def fn(lr: np.ndarray) -> np.ndarray:
        h, w = lr.shape[:2]
        return np.asarray(Image.fromarray(lr).resize((w * scale, h * scale), Image.BICUBIC))
    return fn


def espcn(scale: int = 4):
    """ESPCN on the Y channel as published: conv5x5(64) tanh conv3x3(32) tanh conv3x3(r^2),
    depth-to-space. Random weights (seed 0): for speed and FLOPs only."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 64, 5, padding=2), nn.Tanh(), nn.Conv2d(64, 32, 3, padding=1),
                         nn.Tanh(), nn.Conv2d(32, scale * scale, 3, padding=1), nn.PixelShuffle(scale)).eval()


def espcn_upscale(scale: int = 4):
    """Whole-image ESPCN on BT.601 Y; returns the Y output as gray RGB (speed only)."""
    import torch

    from mossnet.core.metrics import rgb_to_y
    net = espcn(scale)

    @torch.inference_mode()
    def fn(lr: np.ndarray) -> np.ndarray:
        y = (rgb_to_y(lr) / 255.0).astype(np.float32)
        out = net(torch.from_numpy(y)[None, None])[0, 0].numpy()
        g = np.floor(np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    return fn


def espcn_budget(scale: int = 4, lr_side: int = 256) -> tuple[int, float]:
    """(parameters, GFLOPs at lr_side^2 LR) by torch's FlopCounterMode, the convention of
    ``mossnet.tools.info.count_flops`` (2 FLOPs per multiply-add, convolutions only)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    net = espcn(scale)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.rand(1, 1, lr_side, lr_side))
    return sum(p.numel() for p in net.parameters()), counter.get_total_flops() / 1e9


def matlab_bicubic(scale: int):
    from mossnet.core.evaluation import bicubic_upscale
    return bicubic_upscale(scale)


BASELINE_LOADERS = {"bicubic-pil": pil_bicubic, "bicubic-matlab": matlab_bicubic, "espcn": espcn_upscale}
