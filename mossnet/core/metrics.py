"""The field's x-scale SR protocol: PSNR and SSIM on the BT.601 Y channel, border shaved."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """HxWx3 RGB in [0, 255] -> Y in [16, 235] (MATLAB ``rgb2ycbcr``), float64."""
    img = img.astype(np.float64)
    return 16.0 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0


def shave(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:-border, border:-border] if border > 0 else img


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """The one PSNR: infinity for identical inputs."""
    return psnr_from_mse(float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)), peak)


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    return float("inf") if mse == 0 else float(10 * np.log10(peak ** 2 / mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - size // 2) ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] @ g[None, :]).view(1, 1, size, size)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two single-channel images in [0, 255] (Wang et al. 2004, 11x11 gaussian, 'valid')."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x = torch.from_numpy(a.astype(np.float64))[None, None]
    y = torch.from_numpy(b.astype(np.float64))[None, None]
    win = _gaussian_window()
    mu_x, mu_y = F.conv2d(x, win), F.conv2d(y, win)
    sxx = F.conv2d(x * x, win) - mu_x ** 2
    syy = F.conv2d(y * y, win) - mu_y ** 2
    sxy = F.conv2d(x * y, win) - mu_x * mu_y
    m = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return float(m.mean())


def y_psnr_ssim(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """uint8 RGB SR and HR of the same size -> (Y-PSNR, Y-SSIM), ``scale`` pixels shaved."""
    ys, yh = shave(rgb_to_y(sr), scale), shave(rgb_to_y(hr), scale)
    return psnr(ys, yh), ssim(ys, yh)
