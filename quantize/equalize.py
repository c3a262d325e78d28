"""Cross-layer equalization (AIMET's "CLE"; Nagel et al. 2019), on the float model before the
observers are inserted.

For a convolution followed by a ReLU (through a FiLM modulation or a global mean, both of which
commute with a positive per-channel scale) and then by a convolution that reads only that
output, output channel c of the first may be divided by s_c > 0 and input channel c of the
second multiplied by s_c without changing the function: relu(y / s) = relu(y) / s. With
s_c = sqrt(r1_c / r2_c) (r1_c: the largest |weight| of channel c in the first, r2_c: in the
second's input channel c) both get the range sqrt(r1_c r2_c), so no channel's weights are
squeezed into a few int8 steps by another channel's outliers. A FiLM shift is added after the
scale, so the context's FiLM rows for that channel's shift are divided by s_c too.

Pairs whose first output also feeds a skip connection (``head``, ``up``) are left alone: the
skip's add would see the scaled channel. The function is unchanged up to float rounding (the
test checks it); only the weights and biases of the pairs change."""
from __future__ import annotations

import copy
import itertools

import torch

from mossnet.core.arch import MossNet


def equalization_pairs(model: MossNet) -> list[tuple[str, str, int | None]]:
    """(first conv, second conv, index of the FiLM block between them or None)."""
    cfg, pairs = model.cfg, []
    if model.context is not None:
        convs = [f"context.features.{i}" for i in range(0, 2 * len(cfg.ctx_channels), 2)]
        convs += ["context.embed", "context.film"]
        pairs += [(a, b, None) for a, b in itertools.pairwise(convs)]
    if cfg.levels == 2 and cfg.enc_blocks == (0,) and cfg.dec_blocks[0] >= 1 and cfg.mid_blocks >= 1:
        # the XS/S shape: down -> mid blocks -> up, and the last decoder block -> tail
        enc_film = 0
        mids = [f"upscaler.mid.{i}.conv" for i in range(cfg.mid_blocks)]
        pairs.append(("upscaler.down.0", mids[0], None))
        for i, (a, b) in enumerate(zip(mids, mids[1:] + ["upscaler.up.0"])):
            pairs.append((a, b, enc_film + i))
        last = cfg.dec_blocks[0] - 1
        pairs.append((f"upscaler.dec.0.{last}.conv", "upscaler.tail", enc_film + cfg.mid_blocks + last))
    return pairs


def _shift_rows(model: MossNet, block: int) -> slice:
    widths = model.cfg.modulated_widths()
    offset = 2 * sum(widths[:block])
    return slice(offset + widths[block], offset + 2 * widths[block])


@torch.no_grad()
def equalize(model: MossNet) -> tuple[MossNet, dict[str, float]]:
    """A copy of ``model`` with every pair equalized; {pair: largest scale applied}."""
    model = copy.deepcopy(model)
    mods = dict(model.named_modules())
    report = {}
    for first, second, film_block in equalization_pairs(model):
        c1, c2 = mods[first], mods[second]
        r1 = c1.weight.abs().amax(dim=(1, 2, 3))
        r2 = c2.weight.abs().amax(dim=(0, 2, 3))
        s = torch.sqrt(r1 / r2.clamp_min(1e-8)).clamp(1e-3, 1e3)
        s = torch.where((r1 > 0) & (r2 > 0), s, torch.ones_like(s))
        c1.weight /= s.view(-1, 1, 1, 1)
        c1.bias /= s
        c2.weight *= s.view(1, -1, 1, 1)
        if film_block is not None and model.context is not None:
            rows = _shift_rows(model, film_block)
            model.context.film.weight[rows] /= s.view(-1, 1, 1, 1)
            model.context.film.bias[rows] /= s
        report[f"{first} -> {second}"] = float(torch.maximum(s, 1 / s).max())
    return model, report
