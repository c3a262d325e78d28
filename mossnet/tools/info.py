"""Budget of every MossNet variant: ``python -m mossnet.tools.info``.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on one forward pass of the whole
network at 256x256 LR (context encoder on its thumbnail plus the U-Net). It counts a
multiply-add as 2 FLOPs and counts convolutions only: ReLU, FiLM mul/add, the residual add
and depth-to-space are not counted (they add under 1%)."""
from __future__ import annotations

import argparse
import json
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from mossnet.core.arch import (
    VARIANTS,
    MossNet,
    build_model,
    count_parameters,
    make_config,
)
from mossnet.core.pipeline import model_tiling, receptive_field_radius


def count_flops(model: MossNet, lr_side: int = 256) -> int:
    """FLOPs (2 per multiply-add) to upscale one ``lr_side`` square image, context included."""
    thumb = torch.rand(1, 3, model.cfg.thumb_size, model.cfg.thumb_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 3, lr_side, lr_side), thumb)
    return counter.get_total_flops()


def budget(variant: str, scale: int = 4, context: bool = True) -> dict:
    model = build_model(make_config(variant, scale, context)).eval()
    t = model_tiling(model)
    return {"variant": variant, "scale": scale, "context": context,
            "parameters": count_parameters(model), "gflops_256": count_flops(model) / 1e9,
            "receptive_field_radius": receptive_field_radius(model),
            "patch": t.patch, "halo": t.halo}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.info", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, choices=(2, 4), default=4)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    # the context ablation's model (README, "What the context encoder adds") after the family
    rows = [budget(v, args.scale) for v in VARIANTS] + [budget("xs", args.scale, context=False)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"x{args.scale}; GFLOPs at 256x256 LR, 2 FLOPs per multiply-add, convolutions only "
          f"(torch FlopCounterMode)")
    print("| variant | parameters | GFLOPs | receptive-field radius (LR px) | default patch / halo |")
    print("|---|---|---|---|---|")
    for r in rows:
        name = r["variant"] + ("" if r["context"] else " (no context)")
        print(f"| {name} | {r['parameters']:,} | {r['gflops_256']:.2f} | "
              f"{r['receptive_field_radius']} | {r['patch']} / {r['halo']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
