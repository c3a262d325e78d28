"""The two fixed-shape programs of a PyTorch MossNet, the whole-image reference, and the
receptive field that makes tiling exact."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mossnet.core.arch import MossNet, MossNetConfig, PatchUpscaler, identity_modulation
from mossnet.core.tiling import (
    TilingConfig,
    exact_halo,
    make_thumbnail,
    tiling_for,
    to_uint8,
    upscale_tiled,
)


class ContextProgram(nn.Module):
    """thumbnail (1, 3, T, T) -> modulation (1, M, 1, 1). Exported as ``context``."""

    def __init__(self, model: MossNet):
        super().__init__()
        self.model = model

    def forward(self, thumbnail: torch.Tensor) -> torch.Tensor:
        return self.model.modulation(thumbnail)


class PatchProgram(nn.Module):
    """patch (1, 3, P+2h, P+2h) + modulation -> HR core (1, 3, sP, sP). Exported as
    ``upscale_patch``; the halo is cropped inside, as early as each decoder stage allows
    (``PatchUpscaler.forward``'s ``margin``: the same values, a fifth fewer multiply-adds at
    the default tiling), so runtimes only compute and move the core."""

    def __init__(self, model: MossNet, tiling: TilingConfig):
        super().__init__()
        self.upscaler, self.halo, self.scale = model.upscaler, tiling.halo, tiling.scale

    def forward(self, patch: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        return self.upscaler(patch, modulation, margin=self.halo)


def program_module_name(name: str) -> str:
    """Where a model submodule (``context.features.0``, ``upscaler.head``) sits inside the
    exported program that runs it: the quantizer addresses layers by these names."""
    return "model." + name if name == "context" or name.startswith("context.") else name


def example_inputs(model: MossNet, tiling: TilingConfig):
    """Static example inputs of the two programs, from the tiling config."""
    n = tiling.input_size
    thumb = torch.rand(1, 3, tiling.thumb, tiling.thumb)
    modulation = ContextProgram(model).eval()(thumb).detach()
    return (thumb,), (torch.rand(1, 3, n, n), modulation)


def torch_programs(model: MossNet, tiling: TilingConfig):
    """numpy-in/numpy-out callables for ``upscale_tiled`` that run eager PyTorch."""
    ctx, patch = ContextProgram(model).eval(), PatchProgram(model, tiling).eval()

    @torch.inference_mode()
    def context_fn(thumb: np.ndarray) -> np.ndarray:
        return ctx(torch.from_numpy(thumb)).numpy()

    @torch.inference_mode()
    def patch_fn(p: np.ndarray, modulation: np.ndarray) -> np.ndarray:
        return patch(torch.from_numpy(p), torch.from_numpy(modulation)).numpy()

    return context_fn, patch_fn


def upscale_with_model(model: MossNet, image: np.ndarray, tiling: TilingConfig, progress=None,
                       as_float: bool = False) -> np.ndarray:
    """Tiled float PyTorch inference: the reference every exported artifact is held to."""
    return upscale_tiled(image, *torch_programs(model, tiling), tiling, progress=progress,
                         as_float=as_float)


def reference_halo(model: MossNet) -> int:
    """Smallest aligned halo that covers the receptive field: tiling with it is exact."""
    return exact_halo(receptive_field_radius(model), model.cfg.align)


def model_tiling(model: MossNet, patch: int | None = None, halo: int | None = None) -> TilingConfig:
    """The tiling config for a model: default patch, and the exact halo unless told otherwise."""
    return tiling_for(model.cfg, receptive_field_radius(model), patch=patch, halo=halo)


@torch.inference_mode()
def upscale_whole_tensor(model: MossNet, lr: torch.Tensor, thumb: torch.Tensor, pad: int) -> torch.Tensor:
    """(N, 3, H, W) float -> (N, 3, sH, sW) float, whole image at once, edge-replicated by
    ``pad`` (and up to the alignment) exactly as the tiling canvas is."""
    align, s = model.cfg.align, model.cfg.scale
    h, w = lr.shape[-2:]
    extra_h, extra_w = -h % align, -w % align
    x = F.pad(lr, (pad, pad + extra_w, pad, pad + extra_h), mode="replicate")
    out = model.upscaler(x, model.modulation(thumb))
    return out[:, :, pad * s:(pad + h) * s, pad * s:(pad + w) * s]


def upscale_whole(model: MossNet, image: np.ndarray, tiling: TilingConfig, pad: int | None = None,
                  as_float: bool = False) -> np.ndarray:
    """Whole-image (untiled) float inference: what the tiled output must equal. Memory grows
    with the image: only for tests and benchmarks."""
    pad = reference_halo(model) if pad is None else pad
    lr = torch.from_numpy(image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    thumb = torch.from_numpy(make_thumbnail(image, tiling))
    out = upscale_whole_tensor(model, lr, thumb, pad)[0].numpy()
    return out.transpose(1, 2, 0) if as_float else to_uint8(out)


def receptive_field_radius(model: MossNet) -> int:
    """Largest LR distance between an output pixel and an input pixel it depends on."""
    return _receptive_field_radius(model.cfg)


@lru_cache(maxsize=None)
@torch.enable_grad()
def _receptive_field_radius(cfg: MossNetConfig) -> int:
    """Largest LR distance between an output pixel and an input pixel it depends on.

    Measured, not derived: a copy of the upscaler with positive weights and zero biases on a
    positive input keeps every ReLU open, so the gradient of the centre outputs is non-zero
    exactly on their dependency set (no cancellation is possible)."""
    up = PatchUpscaler(cfg)
    with torch.no_grad():
        for name, p in up.named_parameters():
            p.copy_(torch.full_like(p, 0.01) if name.endswith("weight") else torch.zeros_like(p))
    align, s = cfg.align, cfg.scale
    n = 8 * align * 16
    x = torch.ones(1, 3, n, n, requires_grad=True)
    widths = cfg.modulated_widths()
    out = up(x, identity_modulation(widths))
    c = (n // 2 // align) * align  # an aligned LR position; cover every phase inside one cell
    out[:, :, c * s:(c + align) * s, c * s:(c + align) * s].sum().backward()
    nz = torch.nonzero(x.grad[0].abs().sum(0))
    lo, hi = nz.min(0).values, nz.max(0).values
    radius = int(max(c - lo.min(), hi.max() - (c + align - 1)))
    if radius >= c - 1:
        raise RuntimeError("probe too small for this receptive field")
    return radius
