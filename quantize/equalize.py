"""Equalization of the float model before the observers are inserted: every step here changes
weights and biases, never the function (up to float rounding; the tests check it).

Cross-layer equalization (AIMET's "CLE"; Nagel et al. 2019), ``equalize``:

For a convolution followed by a ReLU (through a FiLM modulation or a global mean, both of which
commute with a positive per-channel scale) and then by a convolution that reads only that
output, output channel c of the first may be divided by s_c > 0 and input channel c of the
second multiplied by s_c without changing the function: relu(y / s) = relu(y) / s. With
s_c = sqrt(r1_c / r2_c) (r1_c: the largest |weight| of channel c in the first, r2_c: in the
second's input channel c) both get the range sqrt(r1_c r2_c), so no channel's weights are
squeezed into a few int8 steps by another channel's outliers. A FiLM shift is added after the
scale, so the context's FiLM rows for that channel's shift are divided by s_c too.

Pairs whose first output also feeds a skip connection (``head``, ``up``) are left alone: the
skip's add would see the scaled channel.

Activation equalization, ``equalize_activations`` (issue 20): the same scalings, chosen from
the activations' ranges on the calibration tiles instead of the weights', at the two kinds of
tensor where one per-tensor int8 range serves channels of very different ranges:

* a FiLM block's convolution output, before the float scale and shift (``quantize.recipe``):
  over the calibration tiles its channels span 4 to 40 (XS, first middle block), so the
  narrow ones got a few int8 steps. Output channel c of the convolution is multiplied by
  a_c = max_k r_k / r_c and the FiLM scale of channel c divided by a_c (the context's FiLM rows
  for the scale: the context is float with the float modulation, so this costs nothing);
* the ReLU output of each pair above (a FiLM block's, the stride-2 convolution's): divided by
  s_c = r_c / max_k r_k through the FiLM scale and shift (or the convolution), the next
  convolution's input channel multiplied by s_c.

On a flat colour every pixel of a channel rounds alike, so each channel's rounding error is a
constant that the tail turns into a sub-pixel grid; equalized, the narrow channels round at
their own scale. Measured in ``quantize.ablation``."""
from __future__ import annotations

import copy
import itertools

import torch

from mossnet.core.arch import MossNet
from mossnet.core.pipeline import ContextProgram, PatchProgram
from mossnet.core.tiling import TilingConfig

LIMIT = 100.0  # the largest factor activation equalization applies to a channel


def film_blocks(model: MossNet) -> list[str]:
    """The FiLM blocks' names in the order of the modulation vector (``modulated_widths``)."""
    up, cfg = "upscaler", model.cfg
    names = [f"{up}.enc.{lvl}.{i}" for lvl in range(cfg.levels - 1) for i in range(cfg.enc_blocks[lvl])]
    names += [f"{up}.mid.{i}" for i in range(cfg.mid_blocks)]
    names += [f"{up}.dec.{lvl}.{i}" for lvl in reversed(range(cfg.levels - 1)) for i in range(cfg.dec_blocks[lvl])]
    return names


def equalization_pairs(model: MossNet) -> list[tuple[str, str, int | None]]:
    """(first conv, second conv, index of the FiLM block between them or None)."""
    cfg, pairs = model.cfg, []
    if model.context is not None:
        convs = [f"context.features.{i}" for i in range(0, 2 * len(cfg.ctx_channels), 2)]
        convs += ["context.embed", "context.film"]
        pairs += [(a, b, None) for a, b in itertools.pairwise(convs)]
    if cfg.levels == 2 and cfg.enc_blocks == (0,) and cfg.dec_blocks[0] >= 1 and cfg.mid_blocks >= 1:
        # the XS/S shape: down -> mid blocks -> up, and the last decoder block -> tail
        film = film_blocks(model).index
        mids = [f"upscaler.mid.{i}" for i in range(cfg.mid_blocks)]
        pairs.append(("upscaler.down.0", mids[0] + ".conv", None))
        up = "upscaler.up.0" + (".reduce" if cfg.up == "interp" else "")  # the conv fed by the ReLU
        for a, b in zip(mids, [m + ".conv" for m in mids[1:]] + [up]):
            pairs.append((a + ".conv", b, film(a)))
        last = f"upscaler.dec.0.{cfg.dec_blocks[0] - 1}"
        pairs.append((last + ".conv", "upscaler.tail", film(last)))
    return pairs


def _scale_rows(model: MossNet, block: int) -> slice:
    widths = model.cfg.modulated_widths()
    offset = 2 * sum(widths[:block])
    return slice(offset, offset + widths[block])


def _shift_rows(model: MossNet, block: int) -> slice:
    rows = _scale_rows(model, block)
    return slice(rows.stop, rows.stop + rows.stop - rows.start)


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


def _divide_film(model: MossNet, block: int, d: torch.Tensor, shift: bool) -> None:
    """The context's FiLM output for ``block`` divided by ``d`` per channel: its scale (which
    is the FiLM head's output + 1) and, with ``shift``, its shift."""
    film = model.context.film
    rows = _scale_rows(model, block)
    film.weight[rows] /= d.view(-1, 1, 1, 1)
    film.bias[rows] = (film.bias[rows] + 1) / d - 1
    if shift:
        rows = _shift_rows(model, block)
        film.weight[rows] /= d.view(-1, 1, 1, 1)
        film.bias[rows] /= d


@torch.no_grad()
def activation_ranges(model: MossNet, tiling: TilingConfig, calib) -> dict[str, torch.Tensor]:
    """Per channel, the largest |output| over the calibration tiles (the float model, with the
    float context's modulation, as ``quantize.program.calibrate`` runs them) of every FiLM
    block's convolution and every module whose output a ReLU follows (FiLM blocks: their
    output; other convolutions: their output after the ReLU)."""
    mods = dict(model.named_modules())
    watched = {f"{b}.conv": False for b in film_blocks(model)}
    watched |= {first.removesuffix(".conv") if film is not None else first: film is None
                for first, _, film in equalization_pairs(model) if first.startswith("upscaler.")}
    ranges = {}

    def hook(name: str, relu: bool):
        def record(module, inputs, out):
            r = (out.clamp_min(0) if relu else out.abs()).amax(dim=(0, 2, 3))
            ranges[name] = torch.maximum(ranges[name], r) if name in ranges else r
        return record
    hooks = [mods[n].register_forward_hook(hook(n, relu)) for n, relu in watched.items()]
    try:
        ctx, patch = ContextProgram(model).eval(), PatchProgram(model, tiling).eval()
        for item in calib:
            modulation = ctx(torch.from_numpy(item.thumb))
            for tile in item.patches:
                patch(torch.from_numpy(tile), modulation)
    finally:
        for h in hooks:
            h.remove()
    return ranges


@torch.no_grad()
def equalize_activations(model: MossNet, tiling: TilingConfig, calib) -> tuple[MossNet, dict[str, float]]:
    """A copy of ``model`` with the activations described in the module docstring equalized
    on ``calib`` (``quantize.calibration``); {tensor: largest factor applied}. Without a context
    encoder (a constant identity modulation) only the plain convolution pairs change."""
    ranges = activation_ranges(model, tiling, calib)
    model = copy.deepcopy(model)
    mods, report = dict(model.named_modules()), {}
    blocks = film_blocks(model) if model.context is not None else []
    for i, block in enumerate(blocks):  # FiLM inputs: the convolution grows, the FiLM scale shrinks
        r = ranges[f"{block}.conv"]
        a = torch.where(r > 0, (r.max() / r.clamp_min(1e-12)).clamp(max=LIMIT), torch.ones_like(r))
        conv = mods[f"{block}.conv"]
        conv.weight *= a.view(-1, 1, 1, 1)
        conv.bias *= a
        _divide_film(model, i, a, shift=False)
        report[f"{block}.conv (FiLM input)"] = float(a.max())
    for first, second, film in equalization_pairs(model):  # ReLU outputs into the next convolution
        if not first.startswith("upscaler.") or (film is not None and model.context is None):
            continue
        source = first.removesuffix(".conv") if film is not None else first
        r = ranges[source]
        s = torch.where(r > 0, (r / r.max()).clamp(min=1 / LIMIT), torch.ones_like(r))
        if film is not None:
            _divide_film(model, film, s, shift=True)
        else:
            mods[first].weight /= s.view(-1, 1, 1, 1)
            mods[first].bias /= s
        mods[second].weight *= s.view(1, -1, 1, 1)
        report[f"{source} -> {second}"] = float((1 / s).max())
    return model, report
