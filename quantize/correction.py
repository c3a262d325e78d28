"""Empirical bias correction (AIMET's "BC"), on the converted int8 programs.

Quantization shifts the mean of every convolution's output a little (weight rounding times the
mean input, clipped and rounded activations upstream). MossNet's tail turns those per-channel
shifts into a fixed sub-pixel grid: each of its ``3 * scale**2`` output channels lands on one
sub-pixel position after depth-to-space, so a channel whose mean is off by d levels draws a
periodic pattern of d levels over the whole image (issue 20: 1.7 levels on a flat colour).

The correction runs the calibration tiles through the float model and the int8 programs
(the int8 patch program fed with the int8 context's modulation, as at run time) and adds, to
each convolution's float bias, the per-channel mean of (float output - int8 output). It goes
layer by layer in graph order, re-measuring after every layer, so each one also absorbs the
mean error that the corrected layers before it still hand on. Only biases change; the int8
weights, the activation ranges and the graph stay as they are, so every exporter gets the
correction for free (the bias is a float constant of the unfolded graph)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from mossnet.core.arch import MossNet
from mossnet.core.pipeline import ContextProgram, PatchProgram
from mossnet.core.tiling import TilingConfig

from .calibration import CalibrationImage

CONV = torch.ops.aten.conv2d.default


@dataclass
class ConvSite:
    """One convolution of a converted program: its node and the model module it comes from."""
    node: torch.fx.Node
    module: str  # model module name, e.g. ``upscaler.tail`` or ``context.features.0``

    @property
    def bias_attr(self) -> str:
        return self.node.args[2].target


def module_of(node: torch.fx.Node) -> str:
    path = list(node.meta.get("nn_module_stack", {}).values())[-1][0]
    path = path.removeprefix("L['self'].")
    return path.removeprefix("model.")


def conv_sites(gm: torch.fx.GraphModule) -> list[ConvSite]:
    """The int8 convolutions of a converted program (weights behind a dequantize, a float bias
    constant), in graph order; layers kept in float have nothing to correct."""
    return [ConvSite(n, module_of(n)) for n in gm.graph.nodes
            if n.target == CONV and len(n.args) > 2 and isinstance(n.args[2], torch.fx.Node)
            and n.args[2].op == "get_attr" and n.args[1].op == "call_function"]


class _Recorder(torch.fx.Interpreter):
    """Runs a graph and sums the per-channel values of the watched nodes' outputs."""

    def __init__(self, gm, watch: set):
        super().__init__(gm)
        self.watch, self.sums, self.count = watch, {}, {}

    def run_node(self, n):
        out = super().run_node(n)
        if n in self.watch:
            self.sums[n] = self.sums.get(n, 0) + out.double().sum(dim=(0, 2, 3))
            self.count[n] = self.count.get(n, 0) + out.shape[0] * out.shape[2] * out.shape[3]
        return out


def _float_means(program: torch.nn.Module, model: MossNet, modules: list[str], inputs) -> dict[str, torch.Tensor]:
    """Per-channel output means of ``modules`` of the float model over ``inputs``."""
    named = dict(model.named_modules())
    sums, counts, hooks = {}, {}, []
    for name in modules:
        def hook(_m, _i, out, name=name):
            sums[name] = sums.get(name, 0) + out.double().sum(dim=(0, 2, 3))
            counts[name] = counts.get(name, 0) + out.shape[0] * out.shape[2] * out.shape[3]
        hooks.append(named[name].register_forward_hook(hook))
    try:
        for args in inputs:
            program(*args)
    finally:
        for h in hooks:
            h.remove()
    return {n: sums[n] / counts[n] for n in modules}


def _int8_mean(gm: torch.fx.GraphModule, node: torch.fx.Node, inputs) -> torch.Tensor:
    rec = _Recorder(gm, {node})
    for args in inputs:
        rec.run(*args)
    return rec.sums[node] / rec.count[node]


def _correct(gm, sites: list[ConvSite], float_means: dict, inputs) -> dict[str, float]:
    shifts = {}
    for site in sites:
        delta = (float_means[site.module] - _int8_mean(gm, site.node, inputs)).float()
        bias = gm
        for part in site.bias_attr.split("."):
            bias = getattr(bias, part)
        bias.data += delta
        shifts[site.module] = float(delta.abs().max())
    return shifts


@torch.no_grad()
def bias_correction(model: MossNet, tiling: TilingConfig, ctx_q: torch.fx.GraphModule,
                    patch_q: torch.fx.GraphModule, calib: list[CalibrationImage],
                    max_tiles: int = 128) -> dict[str, float]:
    """Correct the biases of both converted programs in place; {layer: largest shift} (in the
    layer's output units). Up to ``max_tiles`` tiles, spread over the calibration images."""
    thumbs = [(torch.from_numpy(c.thumb),) for c in calib]
    ctx_sites, shifts = conv_sites(ctx_q), {}
    if ctx_sites:  # none when the context stays float (quantize.recipe, float modulation)
        shifts = _correct(ctx_q, ctx_sites, _float_means(ContextProgram(model).eval(), model,
                                                          [s.module for s in ctx_sites], thumbs), thumbs)
    float_ctx = ContextProgram(model).eval()
    pairs = [(c, p) for c in calib for p in c.patches]
    step = max(1, len(pairs) // max_tiles)
    pairs = pairs[::step][:max_tiles]
    modulation = {id(c): (ctx_q(torch.from_numpy(c.thumb)), float_ctx(torch.from_numpy(c.thumb))) for c in calib}
    q_inputs = [(torch.from_numpy(p), modulation[id(c)][0]) for c, p in pairs]
    f_inputs = [(torch.from_numpy(p), modulation[id(c)][1]) for c, p in pairs]
    patch_sites = conv_sites(patch_q)
    shifts.update(_correct(patch_q, patch_sites, _float_means(PatchProgram(model, tiling).eval(), model,
                                                              [s.module for s in patch_sites], f_inputs), q_inputs))
    return shifts
