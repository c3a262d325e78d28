"""AdaRound-style learned rounding of the int8 weights (Nagel et al. 2020), on the converted
programs.

Rounding every weight to its nearest int8 step is optimal weight by weight, not for the layer's
output. For each convolution, in graph order, this learns whether each weight rounds down or up
so that the int8 layer, fed with the int8 network's own input on the calibration tiles,
reproduces the float layer's output: a soft rounding h(V) in [0, 1] (rectified sigmoid)
trained with Adam on the output MSE plus a regulariser that pushes h to 0 or 1 (its exponent
annealed from 20 to 2), then rounded hard. Layer by layer, so each one also compensates what
the layers before it still get wrong. The per-channel scales, the activation ranges and the
graph stay as they are: only the float weight constants change, to values that are exactly on
their int8 grid, so the weight quantize op of the unfolded graph (and every exporter's fold)
gives the learned integers. A layer keeps nearest rounding when the learned one does not lower
its output error on the tiles."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mossnet.core.arch import MossNet
from mossnet.core.pipeline import ContextProgram, PatchProgram
from mossnet.core.tiling import TilingConfig

from .calibration import CalibrationImage
from .correction import conv_sites
from .recipe import WEIGHT_QRANGE

ZETA, GAMMA = 1.1, -0.1  # rectified sigmoid stretch (the paper's)
QC = torch.ops.quantized_decomposed.quantize_per_channel.default


class _Capture(torch.fx.Interpreter):
    """Runs a graph and keeps the value of one node."""

    def __init__(self, gm, node):
        super().__init__(gm)
        self.node, self.values = node, []

    def run_node(self, n):
        out = super().run_node(n)
        if n is self.node:
            self.values.append(out.detach())
        return out


def attr(gm: torch.nn.Module, target: str) -> torch.Tensor:
    """A get_attr node's tensor (its target may be a dotted path)."""
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _conv_params(node: torch.fx.Node):
    args = list(node.args) + [None] * (7 - len(node.args))
    stride, padding, dilation = (args[3] or [1, 1]), (args[4] or [0, 0]), (args[5] or [1, 1])
    return stride, padding, dilation, args[6] or 1


def _rows(x: torch.Tensor, y: torch.Tensor, kernel, stride, padding, dilation, max_rows: int, gen):
    """im2col of the conv input and the matching target rows, subsampled."""
    cols = F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)  # (N, Cin*k*k, L)
    cols = cols.transpose(1, 2).reshape(-1, cols.shape[1])
    target = y.flatten(2).transpose(1, 2).reshape(-1, y.shape[1])
    if cols.shape[0] > max_rows:
        idx = torch.randperm(cols.shape[0], generator=gen)[:max_rows]
        cols, target = cols[idx], target[idx]
    return cols, target


def learn_rounding(w: torch.Tensor, scale: torch.Tensor, x: torch.Tensor, target: torch.Tensor,
                   bias: torch.Tensor, iters: int, gen, lam: float = 0.01, batch: int = 1024,
                   lr: float = 3e-2) -> tuple[torch.Tensor, float, float]:
    """Learned integer weights for ``w`` (Cout, K) at per-channel ``scale``, for inputs ``x``
    (R, K) and float outputs ``target`` (R, Cout); (integers, nearest error, learned error)."""
    qmin, qmax = WEIGHT_QRANGE
    s = scale.view(-1, 1)
    ws = w / s
    floor = torch.floor(ws)
    rest = (ws - floor).clamp(1e-4, 1 - 1e-4)
    v = (-torch.log((ZETA - GAMMA) / (rest - GAMMA) - 1)).requires_grad_(True)
    opt = torch.optim.Adam([v], lr=lr)
    norm = target.var().clamp_min(1e-12)

    def out_of(ints):
        return x @ (ints * s).t() + bias

    nearest = torch.clamp(torch.round(ws), qmin, qmax)
    err_nearest = float(((out_of(nearest) - target) ** 2).mean())
    warm = int(0.2 * iters)
    with torch.enable_grad():  # whatever the caller's grad mode: this is an optimization
        for it in range(iters):
            idx = torch.randint(0, x.shape[0], (min(batch, x.shape[0]),), generator=gen)
            h = (torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA).clamp(0, 1)
            ints = torch.clamp(floor + h, qmin, qmax)
            rec = ((x[idx] @ (ints * s).t() + bias - target[idx]) ** 2).mean() / norm
            if it >= warm:
                beta = 20 + (2 - 20) * (it - warm) / max(1, iters - warm)
                rec = rec + lam * (1 - (2 * h - 1).abs() ** beta).mean()
            opt.zero_grad()
            rec.backward()
            opt.step()
    with torch.no_grad():
        learned = torch.clamp(floor + (v >= 0).float(), qmin, qmax)
        err_learned = float(((out_of(learned) - target) ** 2).mean())
    return (learned if err_learned < err_nearest else nearest), err_nearest, err_learned


def _float_outputs(program, module: torch.nn.Module, inputs) -> list[torch.Tensor]:
    outs = []
    hook = module.register_forward_hook(lambda _m, _i, o: outs.append(o.detach()))
    try:
        with torch.no_grad():
            for args in inputs:
                program(*args)
    finally:
        hook.remove()
    return outs


def _round_program(gm, program, model, q_inputs, f_inputs, iters, max_rows, gen) -> dict:
    mods = dict(model.named_modules())
    report = {}
    for site in conv_sites(gm):
        node = site.node
        if node.args[1].op != "call_function":  # a layer kept in float
            continue
        weight_q = node.args[1].args[0]
        if weight_q.target != QC or weight_q.args[0].op != "get_attr":
            continue
        w_attr, scale_attr = weight_q.args[0].target, weight_q.args[1].target
        weight, scale = attr(gm, w_attr), attr(gm, scale_attr)
        cap = _Capture(gm, node.args[0])
        with torch.no_grad():
            for args in q_inputs:
                cap.run(*args)
        targets = _float_outputs(program, mods[site.module], f_inputs)
        stride, padding, dilation, groups = _conv_params(node)
        if groups != 1:
            continue
        kernel = weight.shape[2:]
        xs, ys = zip(*(_rows(x, y, kernel, stride, padding, dilation, max_rows // len(targets) + 1, gen)
                       for x, y in zip(cap.values, targets)))
        x, y = torch.cat(xs), torch.cat(ys)
        bias = attr(gm, site.bias_attr).detach()
        ints, e0, e1 = learn_rounding(weight.detach().flatten(1), scale.detach(), x, y, bias, iters, gen)
        with torch.no_grad():
            weight.copy_((ints * scale.view(-1, 1)).view_as(weight))
        report[site.module] = {"mse_nearest": e0, "mse_learned": e1, "kept": "learned" if e1 < e0 else "nearest"}
    return report


def adaround(model: MossNet, tiling: TilingConfig, ctx_q: torch.fx.GraphModule, patch_q: torch.fx.GraphModule,
             calib: list[CalibrationImage], iters: int = 300, max_tiles: int = 64, max_rows: int = 16384,
             seed: int = 0) -> dict:
    """Learn the rounding of every convolution of both converted programs, in place;
    {layer: {"mse_nearest", "mse_learned", "kept"}}."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    thumbs = [(torch.from_numpy(c.thumb),) for c in calib]
    float_ctx = ContextProgram(model).eval()
    report = _round_program(ctx_q, float_ctx, model, thumbs, thumbs, iters, max_rows, gen)
    pairs = [(c, p) for c in calib for p in c.patches]
    pairs = pairs[::max(1, len(pairs) // max_tiles)][:max_tiles]
    with torch.no_grad():
        mod = {id(c): (ctx_q(torch.from_numpy(c.thumb)), float_ctx(torch.from_numpy(c.thumb))) for c in calib}
    q_inputs = [(torch.from_numpy(p), mod[id(c)][0]) for c, p in pairs]
    f_inputs = [(torch.from_numpy(p), mod[id(c)][1]) for c, p in pairs]
    report.update(_round_program(patch_q, PatchProgram(model, tiling).eval(), model, q_inputs, f_inputs,
                                 iters, max_rows, gen))
    return report
