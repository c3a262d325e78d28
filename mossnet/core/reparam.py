"""Training-time over-parameterization of the patch upscaler's 3x3 convs (ECBSR-style).

A tiny network trains better (for MossNet-XS +0.06 to +0.16 dB, weights/README.md) when each
3x3 conv is a sum of linear branches: the conv itself, a 1x1 expansion followed by a 3x3 conv,
1x1 convs followed by fixed Sobel-x, Sobel-y and Laplacian filters, and (where shapes allow) the
identity. All branches are linear in the input, so they fold into one plain 3x3 conv: training
runs that conv with the summed kernel (the cost of a plain conv, the gradients of the
branches), and the shipped checkpoint, every exporter and every runtime see exactly the
``mossnet.core.arch`` network. Folding is exact at the borders too because the 1x1 convs have no
bias (zero padding of a bias-free linear map stays zero).

``reparameterize(model)`` swaps the convs for ``RepConv3x3`` in place, with every extra branch
starting at zero so the network computes the same function; ``fold(model)`` swaps them back.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EDGE_FILTERS = torch.tensor([
    [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],  # Sobel x
    [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]],  # Sobel y
    [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],  # Laplacian
])


class RepConv3x3(nn.Module):
    """A 3x3 conv (padding 1, stride 1 or 2) trained as a sum of linear branches."""

    def __init__(self, conv: nn.Conv2d, expand: int = 2):
        super().__init__()
        cin, cout, stride = conv.in_channels, conv.out_channels, conv.stride[0]
        self.stride = stride
        self.conv = conv
        mid = expand * cin
        self.expand_in = nn.Conv2d(cin, mid, 1, bias=False)
        self.expand_out = nn.Conv2d(mid, cout, 3, stride=stride, padding=1, bias=False)
        nn.init.zeros_(self.expand_out.weight)
        n_edge = len(EDGE_FILTERS)
        self.edge_in = nn.Conv2d(cin, n_edge * cout, 1, bias=False)
        self.edge_scale = nn.Parameter(torch.zeros(n_edge * cout))
        self.register_buffer("edge_mask", EDGE_FILTERS.repeat_interleave(cout, 0)[:, None],
                             persistent=False)
        self.identity_scale = nn.Parameter(torch.zeros(cout)) if cin == cout and stride == 1 else None

    def weight(self) -> torch.Tensor:
        """The 3x3 kernel that the branches add up to (differentiable).

        Every branch is linear in the input, so running one conv with this kernel computes
        exactly what the branches compute, with the same gradients for every branch parameter,
        at the cost of a plain conv."""
        cout, n_edge = self.conv.out_channels, len(EDGE_FILTERS)
        weight = self.conv.weight + torch.einsum(
            "omkl,mi->oikl", self.expand_out.weight, self.expand_in.weight[:, :, 0, 0])
        edge = (self.edge_mask[:, 0] * self.edge_scale.view(-1, 1, 1)).view(n_edge, cout, 3, 3)
        edge_in = self.edge_in.weight[:, :, 0, 0].view(n_edge, cout, -1)
        weight = weight + torch.einsum("gokl,goi->oikl", edge, edge_in)
        if self.identity_scale is not None:  # the identity is a centred 1x1 kernel
            weight = weight + F.pad(torch.diag(self.identity_scale)[:, :, None, None], (1, 1, 1, 1))
        return weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.conv.bias, stride=self.stride, padding=1)

    def forward_branches(self, x: torch.Tensor) -> torch.Tensor:
        """The branches run one by one: the reference that ``weight`` must match."""
        y = self.conv(x) + self.expand_out(self.expand_in(x))
        edges = F.conv2d(self.edge_in(x), self.edge_mask * self.edge_scale.view(-1, 1, 1, 1),
                         stride=self.stride, padding=1, groups=self.edge_mask.shape[0])
        n, _, h, w = edges.shape
        y = y + edges.view(n, len(EDGE_FILTERS), -1, h, w).sum(1)
        if self.identity_scale is not None:
            y = y + x * self.identity_scale.view(1, -1, 1, 1)
        return y

    @torch.no_grad()
    def folded(self) -> nn.Conv2d:
        """The single plain 3x3 conv that computes what the branches compute."""
        conv = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, 3, stride=self.stride,
                         padding=1).to(self.conv.weight.device)
        conv.weight.copy_(self.weight())
        conv.bias.copy_(self.conv.bias)
        return conv


def _swap(module: nn.Module, make) -> None:
    """Replace every submodule for which ``make`` returns a module; recurse into the rest."""
    for name, child in module.named_children():
        new = make(child)
        if new is not None:
            setattr(module, name, new)
        else:
            _swap(child, make)


def reparameterize(model: nn.Module, expand: int = 2) -> nn.Module:
    """Over-parameterize every 3x3 conv of ``model.upscaler`` in place (same function)."""
    if is_reparameterized(model):
        raise ValueError("model is already over-parameterized")
    def make(m):
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.padding == (1, 1) \
                and m.groups == 1 and m.bias is not None:
            return RepConv3x3(m, expand).to(m.weight.device)
        return None
    _swap(model.upscaler, make)
    return model


def fold(model: nn.Module) -> nn.Module:
    """Fold every ``RepConv3x3`` back into a plain conv, in place."""
    _swap(model, lambda m: m.folded() if isinstance(m, RepConv3x3) else None)
    return model


def is_reparameterized(model: nn.Module) -> bool:
    return any(isinstance(m, RepConv3x3) for m in model.modules())
