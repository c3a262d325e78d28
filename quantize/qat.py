"""int8 quantization-aware training: ``python -m quantize.qat weights/mossnet_xs_x4.pt``.

Starts from the float checkpoint, inserts the shared recipe's fake-quantizers into the patch
program (PT2E ``prepare_qat_pt2e``), initializes their ranges on the calibration tiles (one
batch, like PTQ's min-max) and fine-tunes it to match the float model's output (or
``--teacher``'s) and the ground truth, with activation ranges frozen after
``--freeze-observers`` of the steps (default: from the start). The context program runs once
per image and stays float, as in ``quantize.ptq`` (``quantize.recipe``, float modulation); its
output feeds every training patch, as on device. Writes the same pipeline folder and report
as PTQ."""
from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mossnet.core.errors import quiet_interrupts

if __name__ == "__main__":  # before torch's seconds of importing: Ctrl-C there is one line too
    quiet_interrupts()

import numpy as np
import torch
import torch.nn.functional as F
from torch.export import Dim
from torchao.quantization.pt2e import (
    FakeQuantizeBase,
    disable_observer,
    move_exported_model_to_eval,
    move_exported_model_to_train,
)
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e
from tqdm import tqdm

from mossnet.core.checkpoint import load_model
from mossnet.core.data import TrainingImages
from mossnet.core.errors import run_cli
from mossnet.core.flags import positive
from mossnet.core.pipeline import PatchProgram, example_inputs, model_tiling
from mossnet.core.subpixel import balance_named_, depth_to_space_convs, imbalance

from .build import (
    QuantizeOptions,
    add_common_arguments,
    base_meta,
    check,
    finish,
    print_result,
    tiling_for,
)
from .balance import BALANCED_WITHIN, balance_phases, trained_like
from .calibration import calibration_files, calibration_set
from .program import QuantizedPipeline, calibrate, convert, prepare
from .recipe import DEFAULT_STEPS, make_quantizer

# what the recipe records for QAT: the float modulation path, no post-training steps. The
# output on the pixel grid is asked for but finds no int8 output to place: the QAT patch program
# (exported with a dynamic batch) keeps its residual add in float, so its output is rounded once.
# A network trained with balanced depth-to-space convs (``mossnet.core.subpixel``) stays
# balanced: projected after every step, then balanced in int8 (``quantize.balance``), which
# the recipe then records as ``phase_balance``.
QAT_STEPS = dict(dict.fromkeys(DEFAULT_STEPS, False), float_modulation=True)


@dataclass
class QATOptions(QuantizeOptions):
    method_name: ClassVar[str] = "qat"
    data: list[str] | None = None  # training images (default: the calibration images)
    steps: int = 1000
    batch: int = 16
    lr: float = 2e-5
    teacher: str | None = None  # distill from this checkpoint instead of the float model
    gt_weight: float = 0.5
    freeze_observers: float = 0.0


def freeze_activation_ranges(model: torch.nn.Module) -> None:
    """Stop updating per-tensor (activation) ranges; per-channel weight ranges keep
    following the weights as they train."""
    for module in model.modules():
        if isinstance(module, FakeQuantizeBase) and module.qscheme in (torch.per_tensor_affine,
                                                                        torch.per_tensor_symmetric):
            module.apply(disable_observer)


def prepare_patch_qat(model, tiling, batch: int) -> torch.fx.GraphModule:
    """The patch program with fake-quantizers, exported with a dynamic batch dimension."""
    _, (patch, modulation) = example_inputs(model, tiling)
    example = (patch.repeat(batch, 1, 1, 1), modulation.repeat(batch, 1, 1, 1))
    dim = Dim("batch", min=1, max=1024)
    graph = torch.export.export(PatchProgram(model, tiling), example,
                                dynamic_shapes=({0: dim}, {0: dim})).module()
    prepared = prepare_qat_pt2e(graph, make_quantizer(qat=True))
    move_exported_model_to_train(prepared)
    return prepared


def quantize_qat(opts: QATOptions) -> tuple[Path, dict]:
    """Quantization-aware fine-tuning of ``opts.ckpt``'s patch program; (pipeline folder, report)."""
    torch.manual_seed(opts.seed)
    check(opts)
    model, _ = load_model(opts.ckpt)
    tiling = tiling_for(model, opts.patch)
    teacher, margin = None, 0
    if opts.teacher:
        teacher, _ = load_model(opts.teacher, scale=model.cfg.scale)
        # extra LR context around each crop, so the teacher's wider receptive field is fed
        margin = max(0, model_tiling(teacher).halo - tiling.halo)
    files = calibration_files(opts.calib)
    calib = calibration_set(files, tiling, opts.num_calib, seed=opts.seed)
    data = TrainingImages(opts.data or [str(f) for f in files], tiling.scale, model.cfg.thumb_size,
                          torch.device("cpu"), min_lr_side=tiling.input_size + 2 * margin)
    start = time.perf_counter()
    ctx, patch = prepare(model, tiling, make_quantizer())
    calibrate(model, ctx, patch, calib)
    int8_context = convert(ctx)

    reference = copy.deepcopy(teacher or model).eval().requires_grad_(False)
    student = prepare_patch_qat(copy.deepcopy(model), tiling, opts.batch)  # shares no tensor with model
    with torch.no_grad():  # start from the calibration set's full ranges (one batch: the
        # moving-average observers take their first batch's min/max as is), as PTQ does
        patches = np.concatenate([p for item in calib for p in item.patches])
        modulation = torch.cat([int8_context(torch.from_numpy(item.thumb)).expand(len(item.patches), -1, -1, -1)
                                for item in calib])
        student(torch.from_numpy(patches), modulation)
    # a network trained balanced stays balanced: {conv: phases} to project after each step
    balanced = ({name: phases for name, (_, phases) in depth_to_space_convs(model).items()}
                if imbalance(model) <= BALANCED_WITHIN else {})
    opt = torch.optim.Adam(student.parameters(), lr=opts.lr)
    gen = torch.Generator().manual_seed(opts.seed)
    s, h, n = tiling.scale, tiling.halo, tiling.input_size
    freeze_at = int(opts.freeze_observers * opts.steps)
    torch.set_grad_enabled(True)
    bar = tqdm(range(opts.steps), desc="QAT", disable=not opts.progress)
    for step in bar:
        if step == freeze_at:
            freeze_activation_ranges(student)
        for g in opt.param_groups:
            g["lr"] = 0.5 * opts.lr * (1 + math.cos(math.pi * step / opts.steps))
        lr, hr, thumb = data.sample(opts.batch, n + 2 * margin, gen)
        core = slice((margin + h) * s, (margin + h + tiling.patch) * s)  # HR of the tile's core
        with torch.no_grad():
            modulation = torch.cat([int8_context(t[None]) for t in thumb])
            target = reference(lr, thumb)[:, :, core, core]
        out = student(lr[:, :, margin:margin + n, margin:margin + n], modulation)
        truth = hr[:, :, core, core]
        loss = (1 - opts.gt_weight) * F.l1_loss(out, target) + opts.gt_weight * F.l1_loss(out, truth)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if balanced:
            balance_named_(student, balanced)
        bar.set_postfix(loss=f"{float(loss.detach()):.4f}", refresh=False)
    move_exported_model_to_eval(student)
    int8_patch = convert_pt2e(copy.deepcopy(student), fold_quantize=False)
    move_exported_model_to_eval(int8_patch)
    steps = dict(QAT_STEPS, phase_balance=bool(balanced))
    details = {"phase_balance": balance_phases(trained_like(model, student, balanced), int8_patch)} if balanced else {}
    pipe = QuantizedPipeline(int8_context, int8_patch, tiling)
    meta = base_meta(opts, "qat", "fused moving-average fake-quant (patch; the context stays float)", (), calib,
                     len(files), steps=steps)
    if details:
        meta["step_details"] = details
    meta["qat"] = {"steps": opts.steps, "batch": opts.batch, "lr": opts.lr, "teacher": opts.teacher,
                   "gt_weight": opts.gt_weight, "freeze_observers_at": freeze_at,
                   "data": opts.data or "calibration images"}
    meta["seconds"] = round(time.perf_counter() - start, 1)
    return finish(model, opts, pipe, "qat", meta)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m quantize.qat", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p, "qat")
    p.add_argument("--data", nargs="+", default=None, metavar="DIR",
                   help="training images (default: the calibration images)")
    p.add_argument("--steps", type=positive, default=QATOptions.steps)
    p.add_argument("--batch", type=positive, default=QATOptions.batch)
    p.add_argument("--lr", type=float, default=QATOptions.lr)
    p.add_argument("--teacher", default=None, help="distill from this checkpoint instead of the float model")
    p.add_argument("--gt-weight", type=float, default=QATOptions.gt_weight,
                   help="loss = (1-w) * L1(int8, float or teacher) + w * L1(int8, ground truth)")
    p.add_argument("--freeze-observers", type=float, default=0.0, metavar="FRACTION",
                   help="freeze activation ranges after this fraction of the steps (default 0: keep "
                        "the ranges calibrated on the calibration set from the first step)")
    args = p.parse_args(argv)
    opts = QATOptions.from_args(args)
    opts.progress = sys.stderr.isatty()
    return run_cli(lambda: print_result(*quantize_qat(opts)))


if __name__ == "__main__":
    sys.exit(main())
