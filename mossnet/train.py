"""Train a MossNet: ``python -m mossnet.train --arch xs [--teacher weights/mossnet_s_x4.pt]``.

L1/Charbonnier on MATLAB-bicubic LR crops, Adam with a cosine schedule, optional output
distillation from a larger teacher, resumable checkpoints, fixed seeds. ``--minutes`` trains
for a time budget: a short timing probe fixes the step count (recorded in the checkpoint)."""
from __future__ import annotations

import argparse
import copy
import json
import math
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mossnet.core.arch import UP_KINDS, VARIANTS, InterpUp, build_model, count_parameters, make_config
from mossnet.core.checkpoint import CheckpointError, load_model, save_checkpoint
from mossnet.core.data import TrainingImages
from mossnet.core.image_io import ImageError
from mossnet.core.paths import SHARED_TRAIN
from mossnet.core.pipeline import upscale_whole_tensor
from mossnet.core.reparam import fold, reparameterize
from mossnet.core.subpixel import BALANCE_CHOICES, balance_


def share(text: str) -> float:
    """argparse type: a fraction of the batch, 0 to 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def pixels(text: str) -> int:
    """argparse type: a margin in LR pixels, 0 or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a pixel count of 0 or more")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m mossnet.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(VARIANTS), default="xs")
    p.add_argument("--scale", type=int, choices=(2, 4), default=4)
    p.add_argument("--no-context", action="store_true", help="ablation: no context encoder")
    p.add_argument("--up", choices=sorted(UP_KINDS), default="conv",
                   help="the U-Net's 2x upsampling (mossnet.core.config.UP_KINDS); --init may come "
                        "from a conv-up checkpoint when this is interp (its up is converted)")
    p.add_argument("--data", nargs="+", default=[str(SHARED_TRAIN)], help="folders of HR images")
    p.add_argument("--out", default="runs/xs", help="run folder (last.pt, model.pt, log.jsonl)")
    p.add_argument("--steps", type=int, default=None,
                   help="total steps (default 20000; with --resume: keep the run's own total)")
    p.add_argument("--minutes", type=float, default=None,
                   help="train for this long instead: --steps is set from a timing probe")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=64, help="LR side of each training crop (not the tile: see mossnet.core.tiling)")
    p.add_argument("--loss-margin", type=pixels, default=0, metavar="R",
                   help="feed LR crops R pixels wider on each side (edge-replicated where the "
                        "image ends, as tiled inference pads it) and score only the inner crop, "
                        "so no scored pixel sees the conv's zero padding, which tiled inference "
                        "never shows it (R = the receptive-field radius, mossnet.tools.info). 0: off")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--loss", choices=("l1", "charbonnier", "mse"), default="l1",
                   help="mse: the error PSNR measures (tried as a last stage: weights/README.md)")
    p.add_argument("--init", default=None, help="start from this checkpoint's weights (same arch)")
    p.add_argument("--teacher", default=None, help="checkpoint of a larger MossNet to distill from")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="loss = (1-w) * loss(sr, hr) + w * loss(sr, teacher)")
    p.add_argument("--reparam", type=int, default=0, metavar="EXPAND",
                   help="train each upscaler 3x3 conv as a sum of linear branches with a 1x1 "
                        "expansion of EXPAND x its inputs (mossnet.core.reparam); folded into plain "
                        "convs before the checkpoint is saved. 0: off")
    p.add_argument("--color-aug", type=share, default=0.0, metavar="P",
                   help="share of crops given a random colour view (channel permutation and "
                        "inversion; mossnet.core.data.color_view) so that the context encoder sees "
                        "saturated thumbnails. 0: off")
    p.add_argument("--flat-aug", type=share, default=0.0, metavar="P",
                   help="share of crops replaced by flat colours (mossnet.core.data.flat_images), "
                        "so that flat images stay flat. 0: off")
    p.add_argument("--flat-near-edges", action="store_true",
                   help="flat colours also draw channels just inside 0 or 1 (within 12 levels), where "
                        "each channel at 0, 1 or uniform rarely lands")
    p.add_argument("--balanced-phases", nargs="?", const="all", choices=BALANCE_CHOICES, default=None,
                   help="keep every sub-pixel phase of each depth-to-space conv at the same DC gain and "
                        "bias (projected after each step), so no error that is constant over an area, int8 "
                        "rounding on a flat colour among them, can draw a sub-pixel grid (mossnet.core.subpixel). "
                        "'up' or 'tail': only those convs (what each costs; the grid needs all)")
    p.add_argument("--ema", type=share, default=0.0, metavar="DECAY",
                   help="validate and save an exponential moving average of the weights with this "
                        "decay per step (e.g. 0.999; 0: off, the last weights)")
    p.add_argument("--val-every", type=int, default=1000)
    p.add_argument("--holdout", type=int, default=30, help="every N-th image is held out for validation")
    p.add_argument("--max-side", type=int, default=1024, help="shrink larger photos by an integer factor")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    return p.parse_args(argv)


def pixel_loss(kind: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if kind == "charbonnier":
        return torch.sqrt((a - b) ** 2 + 1e-6).mean()
    if kind == "mse":
        return F.mse_loss(a, b)
    return F.l1_loss(a, b)


def y_channel(x: torch.Tensor) -> torch.Tensor:
    return 16.0 + (65.481 * x[:, 0] + 128.553 * x[:, 1] + 24.966 * x[:, 2])


@torch.no_grad()
def validate(model, val: TrainingImages) -> float:
    """Mean Y-PSNR (border shaved) of whole-image inference on the held-out images."""
    model.eval()
    s, scores = val.scale, []
    for lr, hr, thumb in zip(val.lr, val.hr, val.thumbs):
        sr = upscale_whole_tensor(model, (lr.float() / 255.0)[None], thumb[None], pad=16)
        sr = torch.floor(sr.clamp(0, 1) * 255 + 0.5) / 255.0
        d = (y_channel(sr) - y_channel(hr.float()[None] / 255.0))[:, s:-s, s:-s]
        scores.append(float(10 * torch.log10(255.0 ** 2 / (d.double() ** 2).mean())))
    model.train()
    return float(np.mean(scores))


def cosine_lr(step: int, total: int, base: float, floor: float) -> float:
    return floor + 0.5 * (base - floor) * (1 + math.cos(math.pi * min(step, total) / total))


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = make_config(args.arch, args.scale, context=not args.no_context, up=args.up)
    model = build_model(cfg).to(device)
    teacher = None
    try:
        if args.init:
            init, _ = load_model(args.init, arch=args.arch, scale=args.scale)
            converts = (init.cfg.up, cfg.up) == ("conv", "interp") and replace(init.cfg, up=cfg.up) == cfg
            if init.cfg != cfg and not converts:
                raise CheckpointError(f"{args.init}: config {init.cfg} differs from {cfg}")
            if converts:  # the rest as it is, each up converted
                init.upscaler.up = nn.ModuleList(InterpUp.from_conv(up) for up in init.upscaler.up)
            model.load_state_dict(init.state_dict())
        if args.teacher:
            teacher, _ = load_model(args.teacher, scale=args.scale)
            teacher = teacher.to(device).eval().requires_grad_(False)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_params = count_parameters(model)
    if args.reparam:
        reparameterize(model, expand=args.reparam)
    if args.balanced_phases:
        removed = balance_(model, args.balanced_phases)
        print(f"balanced phases ({args.balanced_phases}): removed a DC imbalance of up to {removed:.3f}", flush=True)
    try:
        data = TrainingImages(args.data, args.scale, cfg.thumb_size, device, max_side=args.max_side,
                              min_lr_side=args.crop)
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    val = data.split(args.holdout)
    trained = f" ({count_parameters(model):,} while training)" if args.reparam else ""
    print(f"MossNet-{args.arch.upper()} x{args.scale}: {n_params:,} parameters{trained}; "
          f"{len(data)} training and {len(val)} validation images; device {device}", flush=True)

    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    # The average is what gets validated and saved: late in a cosine schedule the weights still
    # jitter from batch to batch, and their average generalizes a little better.
    ema = copy.deepcopy(model).requires_grad_(False) if args.ema else None
    gen = torch.Generator().manual_seed(args.seed)
    step, total, elapsed, log = 0, args.steps or 20000, 0.0, out / "log.jsonl"
    best = -1.0
    if args.resume and (out / "last.pt").is_file():
        state = torch.load(out / "last.pt", map_location=device, weights_only=True)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError:
            print(f"error: {out / 'last.pt'} holds another network: resume with the run's own "
                  f"--arch, --no-context and --reparam options", file=sys.stderr)
            return 2
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        if ema is not None:
            if "ema" not in state:
                print(f"error: {out / 'last.pt'} was trained without --ema", file=sys.stderr)
                return 2
            ema.load_state_dict(state["ema"])
        step, total, elapsed, best = state["step"], state["total"], state["elapsed"], state["best"]
        total = max(args.steps or total, step)  # a longer --steps extends the schedule
        print(f"resumed at step {step}/{total}", flush=True)

    def interior(x: torch.Tensor) -> torch.Tensor:
        m = args.loss_margin * args.scale
        return x[..., m:x.shape[-2] - m, m:x.shape[-1] - m]

    def train_step():
        lr_img, hr_img, thumb = data.sample(args.batch, args.crop, gen, color_p=args.color_aug,
                                            flat_p=args.flat_aug, margin=args.loss_margin,
                                            flat_near_edges=args.flat_near_edges)
        sr = interior(model(lr_img, thumb))
        loss = pixel_loss(args.loss, sr, hr_img)
        if teacher is not None:
            with torch.no_grad():
                target = interior(teacher(lr_img, thumb))
            loss = (1 - args.distill_weight) * loss + args.distill_weight * pixel_loss(args.loss, sr, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if args.balanced_phases:
            balance_(model, args.balanced_phases)
        if ema is not None:
            with torch.no_grad():
                for avg, p in zip(ema.parameters(), model.parameters()):
                    avg.lerp_(p, 1.0 - args.ema)
        return loss.detach()

    def averaged() -> nn.Module:
        """The weights to validate and save: the average, re-balanced (an average of
        re-parameterized factors need not keep their product balanced), or the model itself."""
        if ema is None:
            return model
        if args.balanced_phases:
            balance_(ema, args.balanced_phases)
        return ema

    if args.minutes and step == 0:  # timing probe (its steps count as training)
        for g in opt.param_groups:
            g["lr"] = args.lr
        for _ in range(20):
            train_step()
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        for _ in range(60):
            train_step()
        sync()
        per_step = (time.perf_counter() - t0) / 60
        step = 80
        total = max(step + 1, int(args.minutes * 60 / (per_step * 1.04)))
        print(f"timing probe: {per_step * 1e3:.1f} ms/step -> {total} steps", flush=True)

    def save_state():
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                 "step": step, "total": total, "elapsed": elapsed, "best": best}
        if ema is not None:
            state["ema"] = ema.state_dict()
        torch.save(state, out / "last.pt.tmp")
        (out / "last.pt.tmp").replace(out / "last.pt")

    model.train()
    t_start = time.perf_counter() - elapsed
    bar = tqdm(total=total, initial=step, desc="train", mininterval=10, dynamic_ncols=True)
    val_psnr = float("nan")
    while step < total:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, total, args.lr, args.min_lr)
        loss = train_step()
        step += 1
        bar.update(1)
        if step % args.val_every == 0 or step == total:
            val_psnr = validate(averaged(), val)
            best = max(best, val_psnr)
            elapsed = time.perf_counter() - t_start
            record = {"step": step, "loss": float(loss), "val_psnr": val_psnr, "elapsed_s": round(elapsed, 1)}
            with open(log, "a") as f:
                f.write(json.dumps(record) + "\n")
            bar.set_postfix(loss=f"{float(loss):.4f}", val_psnr=f"{val_psnr:.2f}")
            save_state()
    bar.close()
    elapsed = time.perf_counter() - t_start
    metrics = {"steps": step, "val_psnr": round(val_psnr, 3), "val_images": len(val),
               "train_images": len(data), "wall_time_s": round(elapsed, 1), "device": str(
                   torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"),
               "command": "python -m mossnet.train " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
               "args": {k: v for k, v in vars(args).items()}}
    save_checkpoint(out / "model.pt", fold(averaged().cpu()), metrics=metrics)
    print(json.dumps(metrics, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
