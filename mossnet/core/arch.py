"""MossNet: context-aware patch-local super-resolution.

Two programs make up the network, and every runtime exports exactly these two:

* ``ContextEncoder``: thumbnail of the whole LR image -> one ``modulation`` vector
  (FiLM scale and shift for every modulated block). Run once per image.
* ``PatchUpscaler``: a small U-Net that upscales one fixed-size LR patch, conditioned on
  that modulation. Run once per tile.

Only int8-friendly ops are used (conv, ReLU, add, mul, depth-to-space, slicing, reshape,
mean), so ExecuTorch/XNNPACK, Core ML and LiteRT all run the whole graph in int8.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mossnet.core.config import (  # noqa: F401  (re-exported: the model and its config)
    MAX_BLOCKS,
    MAX_LEVELS,
    MAX_WIDTH,
    UP_KINDS,
    VARIANTS,
    MossNetConfig,
    check_config,
    make_config,
)


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ContextEncoder(nn.Module):
    """Thumbnail (1, 3, T, T) in [0, 1] -> modulation (1, M, 1, 1): per block [scale | shift].

    The FiLM head starts at zero, so an untrained encoder is the identity modulation."""

    def __init__(self, cfg: MossNetConfig):
        super().__init__()
        layers, cin = [], 3
        for c in cfg.ctx_channels:
            layers += [conv3x3(cin, c, stride=2), nn.ReLU()]
            cin = c
        self.features = nn.Sequential(*layers)
        self.embed = nn.Conv2d(cin, cfg.embed_dim, 1)
        self.film = nn.Conv2d(cfg.embed_dim, cfg.modulation_dim, 1)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.widths = cfg.modulated_widths()

    def forward(self, thumb: torch.Tensor) -> torch.Tensor:
        z = self.features(thumb).mean(dim=(2, 3), keepdim=True)
        delta = self.film(F.relu(self.embed(z)))
        return delta + identity_modulation(self.widths, delta.device, delta.dtype)


def identity_modulation(widths: list[int], device=None, dtype=torch.float32) -> torch.Tensor:
    """Modulation that leaves every block unchanged (scale 1, shift 0)."""
    parts = []
    for c in widths:
        parts += [torch.ones(c), torch.zeros(c)]
    return torch.cat(parts).view(1, -1, 1, 1).to(device=device, dtype=dtype)


class ModulatedConv(nn.Module):
    """conv3x3 -> FiLM (per-channel scale and shift from the context) -> ReLU."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = conv3x3(channels, channels)

    def forward(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x) * scale + shift)


class InterpUp(nn.Module):
    """2x upsampling that a balanced network can keep (config ``up="interp"``): a 1x1 conv to
    the output width, then a per-channel 3x3 conv to the 4 sub-pixel phases (``groups``: one
    input channel, four outputs, in depth-to-space order), then depth-to-space.

    A 1x1 conv to 4x the channels gives every phase its own weights; balanced
    (``mossnet.core.subpixel``) they must be equal, and the upsampling becomes nearest-neighbour.
    Here the phases differ in how their taps spread over the neighbours, which balance allows,
    so it can still interpolate (bilinear is one such kernel). Half the multiply-adds of the 1x1
    conv to 4x channels for MossNet-XS; it widens the receptive field by one pixel of its level."""

    radius = 1  # pixels of its own level that each output needs around it

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.reduce = nn.Conv2d(cin, cout, 1)
        self.phases = nn.Conv2d(cout, 4 * cout, 3, padding=1, groups=cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.phases(self.reduce(x))

    @classmethod
    @torch.no_grad()
    def from_conv(cls, conv: nn.Conv2d) -> "InterpUp":
        """Start from a trained 1x1 ``up`` conv: its phases' mean (its balanced projection) as
        ``reduce``, bilinear interpolation as ``phases`` (every kernel sums to 1: balanced)."""
        cout, cin = conv.out_channels // 4, conv.in_channels
        up = cls(cin, cout).to(conv.weight.device)
        up.reduce.weight.copy_(conv.weight.view(cout, 4, cin, 1, 1).mean(1))
        up.reduce.bias.copy_(conv.bias.view(cout, 4).mean(1))
        near, far = torch.tensor([0.0, 0.75, 0.25]), torch.tensor([0.25, 0.75, 0.0])
        taps = [torch.outer(row, col) for row in (far, near) for col in (far, near)]  # (i, j) order
        up.phases.weight.copy_(torch.stack(taps)[:, None].repeat(cout, 1, 1, 1))
        up.phases.bias.zero_()
        return up


def make_up(kind: str, cin: int, cout: int) -> nn.Module:
    """The U-Net's upsampling conv (before its 2x2 depth-to-space) for config ``up``."""
    if kind == "interp":
        return InterpUp(cin, cout)
    # a 1x1 conv to 4x channels + depth-to-space: exact, cheap, int8-native
    return nn.Conv2d(cin, 4 * cout, 1)


def up_radius(up: nn.Module) -> int:
    return getattr(up, "radius", 0)


def _crop(t: torch.Tensor, k: int) -> torch.Tensor:
    """``t`` without ``k`` pixels on every side (itself for k <= 0)."""
    return t if k <= 0 else t[:, :, k:t.shape[2] - k, k:t.shape[3] - k]


class PatchUpscaler(nn.Module):
    """U-Net on one LR patch: (1, 3, h, w) in [0, 1] + modulation -> (1, 3, s*h, s*w).

    Output = depth-to-space(tail conv + input repeated per sub-pixel): the repeated input is
    a nearest-neighbour global residual that costs one add at LR resolution."""

    def __init__(self, cfg: MossNetConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        self.head = conv3x3(3, ch[0])
        self.enc = nn.ModuleList(
            nn.ModuleList(ModulatedConv(ch[lvl]) for _ in range(cfg.enc_blocks[lvl]))
            for lvl in range(cfg.levels - 1))
        self.down = nn.ModuleList(conv3x3(ch[lvl], ch[lvl + 1], stride=2)
                                  for lvl in range(cfg.levels - 1))
        self.mid = nn.ModuleList(ModulatedConv(ch[-1]) for _ in range(cfg.mid_blocks))
        self.up = nn.ModuleList(make_up(cfg.up, ch[lvl + 1], ch[lvl]) for lvl in range(cfg.levels - 1))
        self.dec = nn.ModuleList(
            nn.ModuleList(ModulatedConv(ch[lvl]) for _ in range(cfg.dec_blocks[lvl]))
            for lvl in range(cfg.levels - 1))
        self.tail = conv3x3(ch[0], 3 * cfg.scale ** 2)
        self.widths = cfg.modulated_widths()

    def split_modulation(self, modulation: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        pairs, offset = [], 0
        for c in self.widths:
            pairs.append((modulation[:, offset:offset + c], modulation[:, offset + c:offset + 2 * c]))
            offset += 2 * c
        return pairs

    def forward(self, x: torch.Tensor, modulation: torch.Tensor, margin: int = 0) -> torch.Tensor:
        """``margin`` > 0: return only the centre (``margin`` LR pixels fewer on every side),
        computing each decoder stage only where that centre needs it. The values are those of
        the full output's centre (3x3 convs with their own zero padding: the cropped borders
        each stage gets wrong lie outside what the next needs). The tiled programs pass their
        halo: the decoder and the tail (two thirds of MossNet-XS's multiply-adds, the tail
        alone two fifths) then skip most of the halo's ring, a fifth of all the tile's
        multiply-adds (``mossnet.core.pipeline.PatchProgram``)."""
        film = iter(self.split_modulation(modulation))
        s2 = self.cfg.scale ** 2
        crops = self.decoder_crops(margin)
        h = F.relu(self.head(x))
        skips = []
        for lvl in range(self.cfg.levels - 1):
            for block in self.enc[lvl]:
                h = block(h, *next(film))
            skips.append(h)
            h = F.relu(self.down[lvl](h))
        for block in self.mid:
            h = block(h, *next(film))
        off = 0  # LR pixels already cropped from every side of h, in h's own level
        for lvl in reversed(range(self.cfg.levels - 1)):
            b = crops[lvl] // 2  # depth-to-space doubles it
            k = b - off  # to drop from h; a 3x3 up first needs one more pixel around (a 1x1: none)
            keep = min(k, up_radius(self.up[lvl])) if k > 0 else 0
            u = _crop(self.up[lvl](_crop(h, k - keep)), keep)
            h = F.pixel_shuffle(u, 2) + _crop(skips[lvl], 2 * b)
            h, off = _crop(h, crops[lvl] - 2 * b), crops[lvl]
            for block in self.dec[lvl]:
                h = block(h, *next(film))
        if margin:
            h, off = _crop(h, margin - 1 - off), margin - 1  # the tail conv needs one pixel around
        n, _, hh, ww = x.shape
        core = _crop(x, margin)
        residual = core.unsqueeze(2).expand(n, 3, s2, hh - 2 * margin, ww - 2 * margin).reshape(
            n, 3 * s2, hh - 2 * margin, ww - 2 * margin)
        return F.pixel_shuffle(_crop(self.tail(h), margin - off) + residual, self.cfg.scale)

    def decoder_crops(self, margin: int) -> list[int]:
        """Per level, how many pixels of every side the decoder's input at that level can drop
        (the sum of depth-to-space and skip) and still give the centre ``margin`` pixels in:
        each 3x3 conv after it (the level's decoder blocks, the tail, the levels above) needs
        one more pixel around, and so does a 3x3 up conv below it. 0 everywhere without a margin."""
        crops = [0] * (self.cfg.levels - 1)
        if margin <= 0:
            return crops
        need = margin - 1  # the tail's input
        for lvl in range(self.cfg.levels - 1):
            crops[lvl] = max(0, need - len(self.dec[lvl]))
            # what the level below must deliver, in its pixels
            need = max(0, crops[lvl] // 2 - up_radius(self.up[lvl]))
        return crops


class MossNet(nn.Module):
    """The two programs together. ``forward`` upscales a batch of LR crops whose context is
    given as thumbnails (training); whole images go through ``mossnet.core.tiling``."""

    def __init__(self, cfg: MossNetConfig):
        super().__init__()
        self.cfg = cfg
        self.context = ContextEncoder(cfg) if cfg.context else None
        self.upscaler = PatchUpscaler(cfg)

    def modulation(self, thumb: torch.Tensor) -> torch.Tensor:
        if self.context is None:
            return identity_modulation(self.cfg.modulated_widths(), thumb.device, thumb.dtype
                                       ).expand(thumb.shape[0], -1, -1, -1)
        return self.context(thumb)

    def forward(self, lr: torch.Tensor, thumb: torch.Tensor) -> torch.Tensor:
        return self.upscaler(lr, self.modulation(thumb))


def build_model(cfg: MossNetConfig) -> MossNet:
    return MossNet(cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
