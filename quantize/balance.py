"""Keeping balanced depth-to-space convs balanced in int8 (issue 20), on the converted patch
program.

A network trained with balanced depth-to-space convs (``mossnet.core.subpixel``: every
sub-pixel phase of a group with the same DC gain per input channel and the same bias) keeps a
flat colour constant per channel all the way through, so no int8 rounding can draw a sub-pixel
grid on it. Per-channel int8 weights would undo that in those convs themselves: each phase has
its own scale, its taps round on their own (learned rounding picks each phase's rounding to
suit photos), and the rounded DC gains differ by a few steps times the input; bias correction
shifts each phase's bias on its own. So here, for those convs only, after learned rounding
and bias correction:

* the phases of a group share one weight scale (the largest of theirs: no weight clips);
* the float kernel is rounded to that scale so that its integer taps sum alike in every phase
  of a group (the mean over the phases, rounded): the taps that nearest rounding sent furthest
  from their value give way first, one step each (for the 1x1 ``up`` convs: identical integers);
* the biases of a group's phases take their mean (bias correction's shifts, averaged).

PTQ runs it last; QAT runs it after its convert, on the kernels it trained (``trained_like``;
it keeps them balanced during training too). Only the weight constants, their scales and the
biases change, so every exporter gets it from the one graph, as with the other steps. A conv that is not balanced in float is left as it is:
forcing it would change the network (by 2 dB on Set5 for an XS trained without it)."""
from __future__ import annotations

import copy

import torch

from mossnet.core.subpixel import depth_to_space_convs, phase_imbalance

from .adaround import QC, attr
from .correction import conv_sites
from .recipe import WEIGHT_QRANGE

BALANCED_WITHIN = 1e-4  # a float conv this close to balance counts as balanced


def balanced_round(x: torch.Tensor, phases: int) -> torch.Tensor:
    """(groups * phases, cin, taps) values in steps -> integers in ``WEIGHT_QRANGE``, each within
    one step of its value, whose taps sum alike over the phases of each group."""
    lo, hi = WEIGHT_QRANGE
    g = x.round().clamp(lo, hi).reshape(-1, phases, *x.shape[1:])
    v = x.reshape_as(g)
    target = v.sum(-1).mean(1, keepdim=True).round()  # (groups, 1, cin)
    need = (target - g.sum(-1)).unsqueeze(-1)  # steps each kernel's taps must gain (or lose)
    residual = v - g  # what nearest rounding left: up first where it is largest
    rank_up = residual.argsort(-1, descending=True).argsort(-1)  # 0: the first to go up
    rank_down = residual.argsort(-1).argsort(-1)
    up = (rank_up < need) & (residual > -0.5) & (g < hi)
    down = (rank_down < -need) & (residual < 0.5) & (g > lo)
    g = g + up.to(g.dtype) - down.to(g.dtype)
    if (g.sum(-1) != target).any():
        raise ValueError("the int8 kernels could not be balanced within one step per tap")
    return g.reshape(x.shape)


@torch.no_grad()
def trained_like(model, module: torch.nn.Module, convs) -> torch.nn.Module:
    """A copy of ``model`` whose convs named in ``convs`` take ``module``'s parameters of the
    same names: the float kernels QAT trained, for ``balance_phases`` to round."""
    ref, params = copy.deepcopy(model), dict(module.named_parameters())
    for name, (conv, _) in depth_to_space_convs(ref).items():
        if name in convs:
            conv.weight.copy_(params[f"{name}.weight"])
            conv.bias.copy_(params[f"{name}.bias"])
    return ref


def unbalanced_up_layers(model) -> tuple[str, ...]:
    """The layers the ``float_unbalanced_up`` step keeps in float: with the tail balanced, each
    U-Net ``up`` conv that is not, and the first decoder conv after it.

    A balanced tail turns a constant error of its input into a constant change of the output,
    so on a flat colour only a 2x2 pattern reaching the tail can still draw a grid. An ``up``
    conv whose phases are not balanced makes one in float already (each phase answers the flat
    feature map differently); in int8 its per-phase weight rounding and then the rounding of
    its patterned output give every phase its own error, which the tail spreads over the 4x4
    sub-pixel grid. Kept float, the up and the conv that reads its output hand the tail a
    pattern the float network has too. With an unbalanced tail this would not help (the
    rounding everywhere before the tail draws the grid there), so nothing is kept."""
    convs = depth_to_space_convs(model)
    upscaler = getattr(model, "upscaler", model)
    tail, tail_phases = convs.pop("upscaler.tail")
    if phase_imbalance(tail.weight, tail.bias, tail_phases) > BALANCED_WITHIN:
        return ()
    layers = []
    for level, (conv, phases) in enumerate(convs.values()):
        if phase_imbalance(conv.weight, conv.bias, phases) > BALANCED_WITHIN:
            layers.append(f"upscaler.up.{level}")
            if len(upscaler.dec[level]):
                layers.append(f"upscaler.dec.{level}.0.conv")
    return tuple(layers)


@torch.no_grad()
def balance_phases(model, patch_q: torch.fx.GraphModule) -> dict:
    """Balance the converted patch program's depth-to-space convs in place, each whose float
    kernel in ``model`` (the one the program was converted from) is balanced; {conv: what was
    done} (``quant.json`` records it under the step's name)."""
    sites = {s.module: s for s in conv_sites(patch_q)}
    report = {}
    for name, (conv, phases) in depth_to_space_convs(model).items():
        before = phase_imbalance(conv.weight, conv.bias, phases)
        site = sites.get(name)
        if before > BALANCED_WITHIN:
            report[name] = {"balanced": False, "why": f"not balanced in float (DC gains differ by {before:.3g})"}
            continue
        if site is None or site.node.args[1].args[0].target != QC:
            report[name] = {"balanced": False, "why": "not an int8 per-channel convolution here"}
            continue
        weight_q = site.node.args[1].args[0]
        weight, scale = attr(patch_q, weight_q.args[0].target), attr(patch_q, weight_q.args[1].target)
        bias = attr(patch_q, site.bias_attr)
        int8_before = phase_imbalance(weight, bias, phases)
        shared = scale.reshape(-1, phases).amax(1, keepdim=True).expand(-1, phases).reshape(-1)
        ints = balanced_round((conv.weight / shared.view(-1, 1, 1, 1)).flatten(2), phases)
        weight.copy_((ints * shared.view(-1, 1, 1)).view_as(weight))
        scale.copy_(shared)
        b = bias.view(-1, phases)
        b.copy_(b.mean(1, keepdim=True).expand_as(b))
        report[name] = {"balanced": True, "int8_imbalance_before": int8_before,
                        "int8_imbalance_after": phase_imbalance(weight, bias, phases)}
    return report
