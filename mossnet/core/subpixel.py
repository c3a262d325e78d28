"""Phase balance of depth-to-space: why an error that is the same everywhere cannot draw a grid.

MossNet upsamples twice by a conv followed by depth-to-space: inside the U-Net (``up``: a 1x1
conv to 4x the channels, then 2x2) and at the end (``tail``: a 3x3 conv to ``3 * scale**2``
channels, then ``scale`` x ``scale``). Each output channel of such a conv lands on one
sub-pixel position (phase) of one feature or colour. Over an area where the conv's input is
constant per channel, phase ``p`` of group ``g`` gets ``sum_k dc[g, p, k] * h[k] + bias[g, p]``,
where ``dc`` is the sum of the kernel's taps, its gain for a constant input. When ``dc`` and
``bias`` are the same for every phase of a group, the conv is *balanced*: a constant input
gives a constant output, and any constant change of its input moves every phase alike.

With both convs balanced, a flat colour stays constant per channel through the whole network,
and so does every int8 rounding of it: no rounding anywhere can draw a sub-pixel grid on a flat
area (issue 20), and bias corrections cannot make one either. Unbalanced, the ``up`` conv's
phases round differently on a flat colour (a 2x2 pattern at LR resolution) and the tail maps
any constant error of its input to a 4x4 pattern. What a balanced conv gives up is mapping a
feature's value straight to a sub-pixel pattern: the detail has to come from how the features
vary across its taps (for the 1x1 ``up``, none: it becomes a 1x1 conv followed by
nearest-neighbour upsampling; ``up="interp"``, ``mossnet.core.arch.InterpUp``, keeps 3x3 taps
per phase so that it can still interpolate).

``balance_(model)`` projects every depth-to-space conv onto balanced kernels (the nearest, in
the sum of squares: each kernel's taps move alike), in place; ``mossnet.train --balanced-phases``
does that after every step, ``balance_named_`` the same for parameters found by name (QAT's
exported graph). ``imbalance(model)`` measures how far a model is from it."""
from __future__ import annotations

import torch
from torch import nn


def _by_phase(t: torch.Tensor, phases: int) -> torch.Tensor:
    """(groups * phases, ...) -> (groups, phases, ...), the channel order of depth-to-space."""
    return t.reshape(-1, phases, *t.shape[1:])


def imbalance_of(weight: torch.Tensor, phases: int) -> torch.Tensor:
    """The part of a (groups * phases, cin, kh, kw) kernel whose DC gain differs between the
    phases of a group, spread evenly over each kernel's taps: ``weight - imbalance_of(weight)``
    is the nearest balanced kernel."""
    w = _by_phase(weight, phases).flatten(3)  # (groups, phases, cin, taps)
    dc = w.sum(-1, keepdim=True)
    return ((dc - dc.mean(1, keepdim=True)) / w.shape[-1]).expand_as(w).reshape(weight.shape)


@torch.no_grad()
def phase_imbalance(weight: torch.Tensor, bias: torch.Tensor | None, phases: int) -> float:
    """The largest difference of DC gain (or bias) between a phase and its group's mean."""
    dc = _by_phase(weight, phases).flatten(3).sum(-1)
    worst = (dc - dc.mean(1, keepdim=True)).abs().max()
    if bias is not None:
        b = _by_phase(bias, phases)
        worst = torch.maximum(worst, (b - b.mean(1, keepdim=True)).abs().max())
    return float(worst)


def depth_to_space_convs(model: nn.Module) -> dict[str, tuple[nn.Module, int]]:
    """{module name: (conv, phases)} for every conv that feeds a depth-to-space, in a MossNet
    (names as in its state dict) or its patch upscaler."""
    upscaler = getattr(model, "upscaler", model)
    prefix = "upscaler." if upscaler is not model else ""
    convs = {}
    for i, up in enumerate(upscaler.up):  # a plain conv, or InterpUp whose ``phases`` feeds it
        phased = getattr(up, "phases", None)
        if phased is None:
            convs[f"{prefix}up.{i}"] = (up, 4)
        else:
            convs[f"{prefix}up.{i}.phases"] = (phased, 4)
    convs[f"{prefix}tail"] = (upscaler.tail, upscaler.cfg.scale ** 2)
    return convs


def effective_weight(conv: nn.Module) -> torch.Tensor:
    """A conv's kernel: a plain conv's, or the folded sum of a training-time
    over-parameterized one (``mossnet.core.reparam.RepConv3x3``)."""
    return conv.weight() if callable(getattr(conv, "weight", None)) else conv.weight


BALANCE_CHOICES = ("all", "up", "tail")  # which depth-to-space convs ``balance_`` projects


def _chosen(model: nn.Module, which: str) -> list[tuple[nn.Module, int]]:
    if which not in BALANCE_CHOICES:
        raise ValueError(f"which must be one of {', '.join(BALANCE_CHOICES)}, not {which!r}")
    return [(conv, phases) for name, (conv, phases) in depth_to_space_convs(model).items()
            if which == "all" or name.endswith("tail") == (which == "tail")]


def imbalance(model: nn.Module, which: str = "all") -> float:
    """The largest phase imbalance over the model's depth-to-space convs, or those ``which``
    names (``BALANCE_CHOICES``); 0: balanced."""
    return max(phase_imbalance(effective_weight(conv), _plain(conv).bias, phases)
               for conv, phases in _chosen(model, which))


def _plain(conv: nn.Module) -> nn.Conv2d:
    """The conv whose weight and bias can absorb a change of the effective kernel."""
    return conv.conv if hasattr(conv, "conv") else conv


def _balance(weight: torch.Tensor, bias: torch.Tensor | None, effective: torch.Tensor, phases: int) -> None:
    """Take ``effective``'s imbalance out of ``weight`` and average ``bias`` over the phases."""
    weight -= imbalance_of(effective, phases)
    if bias is not None:
        b = _by_phase(bias, phases)
        b.copy_(b.mean(1, keepdim=True).expand_as(b))


@torch.no_grad()
def balance_(model: nn.Module, which: str = "all") -> float:
    """Project every depth-to-space conv (``which``: or only the U-Net's ``up`` convs, or only
    the tail: to measure what each costs) onto balanced kernels, in place; returns the largest
    imbalance removed. With over-parameterized training the branches' sum is what must
    balance, so the correction goes into the plain branch."""
    removed = imbalance(model, which)
    for conv, phases in _chosen(model, which):
        plain = _plain(conv)
        _balance(plain.weight, plain.bias, effective_weight(conv), phases)
    return removed


@torch.no_grad()
def balance_named_(module: nn.Module, convs: dict[str, int]) -> None:
    """``balance_`` for convs given as {name: phases}, whose ``name.weight`` and ``name.bias``
    are parameters of ``module`` (a graph exported from a MossNet keeps its parameter names)."""
    params = dict(module.named_parameters())
    for name, phases in convs.items():
        weight = params[f"{name}.weight"]
        _balance(weight, params.get(f"{name}.bias"), weight, phases)
