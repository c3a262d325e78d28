"""Training data: HR images held on the training device, LR made once per whole image.

LR comes from the MATLAB-compatible bicubic of the *whole* image (as DIV2K ships it), the
thumbnail from that whole LR image, and crops are cut from both at aligned positions, so the
context encoder sees in training exactly what it sees at inference."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from mossnet.core.bicubic import downscale_uint8, imresize, to_uint8_levels
from mossnet.core.image_io import ImageError, iter_image_files, load_image

FLAT_EDGE = 12 / 255  # flat_images(near_edges=True): how close to 0 or 1 a near-end channel lies


def prepare_hr(rgb: np.ndarray, max_side: int) -> torch.Tensor:
    """uint8 HxWx3 -> float64 (3, H, W) in [0, 255]; photos larger than ``max_side`` are
    first shrunk by an integer factor (removes JPEG block structure and camera noise)."""
    hr = torch.from_numpy(rgb).permute(2, 0, 1).double()
    factor = math.ceil(max(rgb.shape[:2]) / max_side)
    if factor > 1:
        hr = to_uint8_levels(imresize(hr, 1 / factor))
    return hr


class TrainingImages:
    def __init__(self, folders: list[str], scale: int, thumb: int, device: torch.device,
                 max_side: int = 1024, min_lr_side: int = 48):
        self.scale, self.device = scale, device
        self.hr, self.lr, self.thumbs, self.names = [], [], [], []
        files = [f for d in folders for f in iter_image_files(d)]
        if not files:
            raise ImageError(f"no images found in {', '.join(map(str, folders))}")
        for path in files:
            try:
                hr = prepare_hr(load_image(path, max_pixels=200_000_000).rgb, max_side)
            except ImageError:
                continue
            h, w = (s - s % scale for s in hr.shape[1:])
            if min(h, w) // scale < min_lr_side:
                continue
            hr = hr[:, :h, :w]
            lr = downscale_uint8(hr, scale)
            self.hr.append(hr.to(torch.uint8).to(device))
            self.lr.append(lr.to(torch.uint8).to(device))
            self.thumbs.append(F.adaptive_avg_pool2d((lr / 255.0).float()[None], thumb)[0].to(device))
            self.names.append(str(path))
        if not self.hr:
            raise ImageError(f"no usable training images in {', '.join(map(str, folders))}")
        areas = torch.tensor([x.shape[1] * x.shape[2] for x in self.lr], dtype=torch.float64)
        self.weights = areas / areas.sum()

    def __len__(self) -> int:
        return len(self.hr)

    def split(self, every: int) -> "TrainingImages":
        """Move every ``every``-th image into a held-out validation set, returned."""
        val = object.__new__(TrainingImages)
        val.scale, val.device = self.scale, self.device
        keep = [i for i in range(len(self)) if i % every != every // 2]
        held = [i for i in range(len(self)) if i % every == every // 2]
        for name in ("hr", "lr", "thumbs", "names"):
            items = getattr(self, name)
            setattr(val, name, [items[i] for i in held])
            setattr(self, name, [items[i] for i in keep])
        for ds in (self, val):
            areas = torch.tensor([x.shape[1] * x.shape[2] for x in ds.lr], dtype=torch.float64)
            ds.weights = areas / areas.sum()
        return val

    def sample(self, batch: int, lr_crop: int, gen: torch.Generator, color_p: float = 0.0,
               flat_p: float = 0.0, margin: int = 0, flat_near_edges: bool = False):
        """Random aligned LR/HR crops with flips and transposes (the 8 dihedral views),
        plus each crop's whole-image thumbnail under the same view; with ``color_p``, that
        share of the crops also gets a random colour view (``color_view``), with ``flat_p``
        that share is replaced by flat images (``flat_images``; ``flat_near_edges`` is its
        ``near_edges``). ``margin`` widens each LR crop by that many pixels per side
        (replicating the image's edge where it runs out, as the tiled pipeline pads an image)
        around the same ``lr_crop`` square the HR crop covers."""
        s, hp = self.scale, lr_crop * self.scale
        idx = torch.multinomial(self.weights, batch, replacement=True, generator=gen).tolist()
        lrs, hrs, thumbs = [], [], []
        for i in idx:
            _, h, w = self.lr[i].shape
            y = int(torch.randint(0, h - lr_crop + 1, (1,), generator=gen))
            x = int(torch.randint(0, w - lr_crop + 1, (1,), generator=gen))
            rows = torch.arange(y - margin, y + lr_crop + margin).clamp(0, h - 1)
            cols = torch.arange(x - margin, x + lr_crop + margin).clamp(0, w - 1)
            lrs.append(self.lr[i][:, rows][:, :, cols])
            hrs.append(self.hr[i][:, y * s:y * s + hp, x * s:x * s + hp])
            thumbs.append(self.thumbs[i])
        lr = torch.stack(lrs).float() / 255.0
        hr = torch.stack(hrs).float() / 255.0
        th = torch.stack(thumbs)
        if color_p > 0:
            lr, hr, th = color_view(lr, hr, th, color_p, gen)
        if flat_p > 0:
            lr, hr, th = flat_images(lr, hr, th, flat_p, gen, flat_near_edges)
        flips = torch.randint(0, 2, (3,), generator=gen).tolist()
        views = []
        for t in (lr, hr, th):
            if flips[0]:
                t = t.flip(-1)
            if flips[1]:
                t = t.flip(-2)
            if flips[2]:
                t = t.transpose(-1, -2)
            views.append(t.contiguous())
        return views


def color_view(lr: torch.Tensor, hr: torch.Tensor, thumb: torch.Tensor, p: float,
               gen: torch.Generator):
    """For a share ``p`` of the batch: permute the RGB channels and invert each with
    probability 1/2, the same for crop, target and thumbnail.

    Photos rarely fill the corners of the colour cube, and a context encoder that never saw a
    saturated thumbnail extrapolates wildly there (a flat pure-red image came out with a
    21-level grid). Both maps commute with the per-channel bicubic and the thumbnail's average
    pooling, so the LR crop stays the degradation of the HR crop (up to uint8 rounding)."""
    n = lr.shape[0]
    chosen = torch.rand(n, generator=gen) < p
    perm = torch.stack([torch.randperm(3, generator=gen) for _ in range(n)])
    flip = torch.randint(0, 2, (n, 3), generator=gen).bool()
    perm[~chosen] = torch.arange(3)
    flip[~chosen] = False
    out = []
    for t in (lr, hr, thumb):
        idx = perm.to(t.device).view(n, 3, 1, 1).expand_as(t)
        t = torch.gather(t, 1, idx)
        f = flip.to(t.device).view(n, 3, 1, 1)
        out.append(torch.where(f, 1.0 - t, t))
    return out


def flat_images(lr: torch.Tensor, hr: torch.Tensor, thumb: torch.Tensor, p: float,
                gen: torch.Generator, near_edges: bool = False):
    """Replace a share ``p`` of the batch by flat images: crop, target and thumbnail all one
    colour, each channel 0, 1 or uniform with equal odds (the cube's corners, edges and inside);
    with ``near_edges`` also within ``FLAT_EDGE`` of 0 or of 1 (five kinds, equal odds).

    A flat thumbnail is the one input a photo never gives the context encoder, and an earlier
    XS answered an all-black image with a 34-level sub-pixel grid; the bicubic of a flat
    image is that image, so the right output is known exactly. Channels at 0, 1 or uniform
    rarely land just inside an end, where the XS trained without ``near_edges`` drew a grid on a
    ridge of saturated blues (red 2 to 7 levels, blue above 230: README, "Flat and saturated
    images")."""
    n = lr.shape[0]
    chosen = torch.rand(n, generator=gen) < p
    kind = torch.randint(0, 5 if near_edges else 3, (n, 3), generator=gen)
    u = torch.rand(n, 3, generator=gen)
    colour = torch.where(kind == 0, 0.0, torch.where(kind == 1, 1.0, u))
    if near_edges:
        colour = torch.where(kind == 3, u * FLAT_EDGE, torch.where(kind == 4, 1.0 - u * FLAT_EDGE, colour))
    out = []
    for t in (lr, hr, thumb):
        c = colour.to(t.device, t.dtype).view(n, 3, 1, 1).expand_as(t)
        out.append(torch.where(chosen.to(t.device).view(n, 1, 1, 1), c, t))
    return out
