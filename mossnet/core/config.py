"""The shape of a MossNet family member (``MossNetConfig``, the variants), without torch: the
manifest checks and the apps' tooling read it in processes that never load a model."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


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
    up: str = "conv"  # how the U-Net upsamples: a name in UP_KINDS

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


UP_KINDS = {
    # a 1x1 conv to 4x the channels, then 2x2 depth-to-space: each sub-pixel phase is its own
    # linear map of the features (balanced, it is nearest-neighbour upsampling)
    "conv": "1x1 conv to 4 phases",
    # a 1x1 conv, then a per-channel 3x3 conv to the 4 phases: half the multiply-adds, and
    # balanced it still interpolates (the phases share a DC gain, not their taps)
    "interp": "1x1 conv, per-channel 3x3 to 4 phases",
}

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
    if not isinstance(cfg.up, str) or cfg.up not in UP_KINDS:
        raise ValueError(f"config up must be one of {', '.join(UP_KINDS)}, got {cfg.up!r}"[:200])


VARIANTS: dict[str, dict] = {
    # MossNet-XS: the mobile model (<= 70K parameters, <= 3.5 GFLOPs at 256x256 LR).
    "xs": dict(channels=(24, 36), enc_blocks=(0,), mid_blocks=2, dec_blocks=(1,)),
    # MossNet-S: the teacher XS is distilled from (< 1M parameters).
    "s": dict(channels=(48, 96), enc_blocks=(1,), mid_blocks=4, dec_blocks=(2,),
              ctx_channels=(16, 32, 64), embed_dim=64),
}


def make_config(variant: str, scale: int = 4, context: bool = True, up: str = "conv") -> MossNetConfig:
    if variant not in VARIANTS:
        raise ValueError(f"unknown MossNet variant {variant!r}; choose from {sorted(VARIANTS)}")
    if scale not in (2, 4):
        raise ValueError(f"unsupported scale x{scale}; MossNet supports x2 and x4")
    return MossNetConfig(variant=variant, scale=scale, context=context, up=up, **VARIANTS[variant])
