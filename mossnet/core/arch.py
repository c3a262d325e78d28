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

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class MossNetConfig:
    """Shape of one family member. ``channels[i]``/``blocks[i]`` describe U-Net level i
    (level 0 is full LR resolution, each next level halves it)."""

    variant: str
    scale: int = 4
    channels: tuple[int, ...] = (24, 40)
    enc_blocks: tuple[int, ...] = (0,)  # modulated convs before each downsampling
    mid_blocks: int = 2  # modulated convs at the lowest level
    dec_blocks: tuple[int, ...] = (1,)  # modulated convs after each upsampling + skip
    context: bool = True  # False: no context encoder (the ablation)
    thumb_size: int = 64  # side of the square LR thumbnail the context encoder sees
    ctx_channels: tuple[int, ...] = (8, 16, 32)
    embed_dim: int = 32

    def __post_init__(self):
        check_config(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MossNetConfig":
        """A config from a checkpoint or quant.json; ValueError names the first bad field."""
        if not isinstance(d, dict):
            raise ValueError(f"config must be a mapping, not {type(d).__name__}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"config has unknown fields {', '.join(sorted(map(str, unknown)))}")
        d = dict(d)
        for key in ("channels", "enc_blocks", "dec_blocks", "ctx_channels"):
            if key in d:
                if not isinstance(d[key], (list, tuple)):
                    raise ValueError(f"config {key} must be a list of integers, not {d[key]!r}"[:200])
                d[key] = tuple(d[key])
        try:
            return cls(**d)
        except TypeError as exc:  # a missing field
            raise ValueError(f"config: {exc}") from None

    @property
    def levels(self) -> int:
        return len(self.channels)

    @property
    def align(self) -> int:
        """Patch positions and sizes must be multiples of this for shift equivariance."""
        return 2 ** (self.levels - 1)

    def modulated_widths(self) -> list[int]:
        """Channel count of every FiLM-modulated block, in forward order."""
        widths = []
        for lvl in range(self.levels - 1):
            widths += [self.channels[lvl]] * self.enc_blocks[lvl]
        widths += [self.channels[-1]] * self.mid_blocks
        for lvl in reversed(range(self.levels - 1)):
            widths += [self.channels[lvl]] * self.dec_blocks[lvl]
        return widths

    @property
    def modulation_dim(self) -> int:
        return 2 * sum(self.modulated_widths())


MAX_WIDTH, MAX_BLOCKS, MAX_LEVELS = 1024, 64, 6  # far beyond any mobile model: a corrupt config


def _ints(name: str, values, low: int, high: int) -> None:
    seq = values if isinstance(values, tuple) else (values,)
    for v in seq:
        if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
            raise ValueError(f"config {name} must hold integers from {low} to {high}, got {values!r}"[:200])


def check_config(cfg: "MossNetConfig") -> None:
    """Types, ranges and agreement between the fields (a U-Net of ``len(channels)`` levels has
    one encoder and one decoder block count per level but the last): what building the model
    and the tiling assume. A checkpoint's config is checked here before any module is built."""
    if not isinstance(cfg.variant, str) or not cfg.variant or len(cfg.variant) > 64:
        raise ValueError(f"config variant must be a short name, got {cfg.variant!r}"[:200])
    if cfg.scale not in (2, 4) or isinstance(cfg.scale, bool):
        raise ValueError(f"config scale must be 2 or 4, got {cfg.scale!r}"[:200])
    if not isinstance(cfg.channels, tuple) or not 1 <= len(cfg.channels) <= MAX_LEVELS:
        raise ValueError(f"config channels must list 1 to {MAX_LEVELS} widths, got {cfg.channels!r}"[:200])
    _ints("channels", cfg.channels, 1, MAX_WIDTH)
    for name in ("enc_blocks", "dec_blocks"):
        value = getattr(cfg, name)
        if not isinstance(value, tuple) or len(value) != len(cfg.channels) - 1:
            raise ValueError(f"config {name} must have {len(cfg.channels) - 1} entries (one per level "
                             f"but the last of channels {list(cfg.channels)}), got {value!r}"[:200])
        _ints(name, value, 0, MAX_BLOCKS)
    _ints("mid_blocks", cfg.mid_blocks, 0, MAX_BLOCKS)
    if not isinstance(cfg.context, bool):
        raise ValueError(f"config context must be true or false, got {cfg.context!r}"[:200])
    if not isinstance(cfg.ctx_channels, tuple) or not 1 <= len(cfg.ctx_channels) <= MAX_LEVELS:
        raise ValueError(f"config ctx_channels must list 1 to {MAX_LEVELS} widths, got {cfg.ctx_channels!r}"[:200])
    _ints("ctx_channels", cfg.ctx_channels, 1, MAX_WIDTH)
    _ints("embed_dim", cfg.embed_dim, 1, MAX_WIDTH)
    _ints("thumb_size", cfg.thumb_size, 2 ** len(cfg.ctx_channels), 1024)


VARIANTS: dict[str, dict] = {
    # MossNet-XS: the mobile model (<= 70K parameters, <= 3.5 GFLOPs at 256x256 LR).
    "xs": dict(channels=(24, 36), enc_blocks=(0,), mid_blocks=2, dec_blocks=(1,)),
    # MossNet-S: the teacher XS is distilled from (< 1M parameters).
    "s": dict(channels=(48, 96), enc_blocks=(1,), mid_blocks=4, dec_blocks=(2,),
              ctx_channels=(16, 32, 64), embed_dim=64),
}


def make_config(variant: str, scale: int = 4, context: bool = True) -> MossNetConfig:
    if variant not in VARIANTS:
        raise ValueError(f"unknown MossNet variant {variant!r}; choose from {sorted(VARIANTS)}")
    if scale not in (2, 4):
        raise ValueError(f"unsupported scale x{scale}; MossNet supports x2 and x4")
    return MossNetConfig(variant=variant, scale=scale, context=context, **VARIANTS[variant])


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
        # Upsampling by a 1x1 conv to 4x channels + depth-to-space: exact, cheap, int8-native.
        self.up = nn.ModuleList(nn.Conv2d(ch[lvl + 1], 4 * ch[lvl], 1)
                                for lvl in range(cfg.levels - 1))
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

    def forward(self, x: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        film = iter(self.split_modulation(modulation))
        s2 = self.cfg.scale ** 2
        h = F.relu(self.head(x))
        skips = []
        for lvl in range(self.cfg.levels - 1):
            for block in self.enc[lvl]:
                h = block(h, *next(film))
            skips.append(h)
            h = F.relu(self.down[lvl](h))
        for block in self.mid:
            h = block(h, *next(film))
        for lvl in reversed(range(self.cfg.levels - 1)):
            h = F.pixel_shuffle(self.up[lvl](h), 2) + skips[lvl]
            for block in self.dec[lvl]:
                h = block(h, *next(film))
        n, _, hh, ww = x.shape
        residual = x.unsqueeze(2).expand(n, 3, s2, hh, ww).reshape(n, 3 * s2, hh, ww)
        return F.pixel_shuffle(self.tail(h) + residual, self.cfg.scale)


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
