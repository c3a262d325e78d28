"""The field's x-scale SR protocol: PSNR and SSIM on the BT.601 Y channel, border shaved."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


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


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    g = np.exp(-((np.arange(size, dtype=np.float64) - size // 2) ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: np.ndarray) -> np.ndarray:
    """'valid' 11x11 Gaussian filter as two 1-D passes over sliding windows (the 2-D window is
    the outer product of the 1-D one). Plain numpy: torch's float64 conv2d was 5-20x slower and
    spent most of it spinning OpenMP threads in the kernel (system time), which made
    ``mossnet.eval`` on large sets take tens of minutes."""
    g = _gaussian_1d()
    return sliding_window_view(sliding_window_view(x, g.size, axis=0) @ g, g.size, axis=1) @ g


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two single-channel images in [0, 255] (Wang et al. 2004, 11x11 gaussian, 'valid')."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x, y = a.astype(np.float64), b.astype(np.float64)
    mu_x, mu_y = _blur(x), _blur(y)
    sxx = _blur(x * x) - mu_x ** 2
    syy = _blur(y * y) - mu_y ** 2
    sxy = _blur(x * y) - mu_x * mu_y
    m = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return float(m.mean())


def y_psnr_ssim(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    """uint8 RGB SR and HR of the same size -> (Y-PSNR, Y-SSIM), ``scale`` pixels shaved."""
    ys, yh = shave(rgb_to_y(sr), scale), shave(rgb_to_y(hr), scale)
    return psnr(ys, yh), ssim(ys, yh)


def grey(img: np.ndarray) -> np.ndarray:
    """HxWx3 RGB (or HxW) in [0, 255] -> BT.601 luma in [0, 255], float64."""
    img = img.astype(np.float64)
    if img.ndim == 2:
        return img
    return 0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]


def gaussian_blur(x: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Separable Gaussian blur of a 2-D array (radius 4 sigma, edges reflected), same size."""
    r = max(1, round(4 * sigma))
    g = np.exp(-(np.arange(-r, r + 1, dtype=np.float64) ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    p = np.pad(x, r, mode="reflect") if min(x.shape) > r else np.pad(x, r, mode="edge")
    p = sliding_window_view(p, g.size, axis=0) @ g
    return sliding_window_view(p, g.size, axis=1) @ g


def subpixel_grid(img: np.ndarray, scale: int = 4, sigma: float = 2.0, border: int = 8) -> float:
    """The sub-pixel grid an x``scale`` upscaler draws, in levels: the largest offset among the
    ``scale``x``scale`` phase means of the high-pass residual (grey level minus a Gaussian blur
    of ``sigma``), each phase mean taken relative to the mean over all phases. The output
    pixel (y, x) belongs to phase (y % scale, x % scale); ``border`` output pixels are left out
    on each side (rounded to a multiple of ``scale``). A flat field and a smooth gradient score
    0; a periodic per-phase offset of d levels scores d."""
    y = grey(img)
    hp = y - gaussian_blur(y, sigma)
    b = -(-border // scale) * scale
    h, w = hp.shape
    hp = hp[b:h - b - (h - 2 * b) % scale, b:w - b - (w - 2 * b) % scale] if b else hp[:h - h % scale, :w - w % scale]
    if hp.shape[0] < scale or hp.shape[1] < scale:
        raise ValueError(f"image too small for the grid measure ({img.shape[:2]})")
    phases = hp.reshape(hp.shape[0] // scale, scale, hp.shape[1] // scale, scale).mean(axis=(0, 2))
    return float(np.abs(phases - phases.mean()).max())
