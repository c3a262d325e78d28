"""What PTQ and QAT share: their options, the checks, and the last step (evaluate float vs int8,
then write the pipeline folder with its report). ``quantize.ptq`` and ``quantize.qat`` are
library functions over these; their ``main`` only parses flags."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

from mossnet.core.errors import FlagError
from mossnet.core.flags import positive
from mossnet.core.hashing import sha256
from mossnet.core.image_io import ImageError
from mossnet.core.paths import DEFAULT_CHECKPOINT
from mossnet.core.pipeline import model_tiling
from mossnet.core.tiling import DEFAULT_PATCH, PROGRAMS_VERSION, TilingConfig

from .calibration import describe
from .program import QuantizedPipeline, check_replaceable, default_pipeline_dir, save_pipeline
from .recipe import recipe_dict
from .report import (
    build_report,
    compare,
    default_eval_dirs,
    markdown,
    report_files,
    weight_bytes,
)


@dataclass
class QuantizeOptions:
    method_name: ClassVar[str] = "ptq"  # names the default output folder
    ckpt: str = str(DEFAULT_CHECKPOINT)
    calib: list[str] | None = None  # calibration folders (default: scikit-learn's photos + the sample)
    num_calib: int = 256  # at most this many calibration tiles
    eval: list[str] | None = None  # benchmark folders for the report
    out: str | None = None  # pipeline folder (default quantize.program.default_pipeline_dir)
    patch: int | None = None
    seed: int = 0
    progress: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace):
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


def add_common_arguments(p: argparse.ArgumentParser, method: str) -> None:
    d = QuantizeOptions()
    p.add_argument("ckpt", nargs="?", default=d.ckpt, help="float MossNet checkpoint (default: shipped XS x4)")
    p.add_argument("--calib", nargs="+", default=None, metavar="DIR",
                   help="calibration image folders (default: photos installed with scikit-learn "
                        "and the sample card; ../shared/data/train is a good choice)")
    p.add_argument("--num-calib", type=positive, default=d.num_calib, help=f"calibration tiles (default {d.num_calib})")
    p.add_argument("--eval", nargs="+", default=None, metavar="DIR",
                   help="benchmark folders for the report (default: Set5, Set14, B100 from "
                        "../shared when present, else the sample card)")
    p.add_argument("--out", default=None, help=f"output folder (default artifacts/<ckpt>_int8_{method})")
    p.add_argument("--patch", type=positive, default=None,
                   help=f"LR tile core in pixels the programs are fixed to (default {DEFAULT_PATCH})")
    p.add_argument("--seed", type=int, default=d.seed)


def check(opts: QuantizeOptions) -> None:
    """What can be refused before minutes of calibration: the folders, and an ``--out`` that
    exists and was not written by this tool."""
    for folder in opts.eval or []:
        if not Path(folder).is_dir():
            raise ImageError(f"{folder}: no such evaluation folder")
    check_replaceable(output_dir(opts))


def output_dir(opts: QuantizeOptions) -> Path:
    return Path(opts.out) if opts.out else default_pipeline_dir(opts.ckpt, opts.method_name)


def tiling_for(model, patch: int | None) -> TilingConfig:
    try:
        return model_tiling(model, patch=patch)
    except ValueError as exc:
        raise FlagError(f"--patch: {exc}") from None


def base_meta(opts: QuantizeOptions, method: str, observer: str, float_modules, calib,
              calib_files: int | None = None, steps: dict | None = None) -> dict:
    return {"method": method, "checkpoint": str(opts.ckpt), "checkpoint_sha256": sha256(opts.ckpt),
            "programs_version": PROGRAMS_VERSION,
            "recipe": recipe_dict(observer, tuple(float_modules), steps),
            "calibration": {"source": opts.calib or "default (scikit-learn photos + sample card)",
                            **describe(calib, calib_files), "seed": opts.seed}}


def finish(model, opts: QuantizeOptions, pipe: QuantizedPipeline, method: str, meta: dict,
           float_modules=(), sensitivity=None) -> tuple[Path, dict]:
    """Evaluate float vs int8, then write the pipeline folder with its report; (folder, report)."""
    out = output_dir(opts)
    results = compare(model, pipe.tiling, pipe, opts.eval or default_eval_dirs(), progress=opts.progress)
    float_modulation = meta["recipe"]["steps"].get("float_modulation", False)
    report = build_report(results, meta, weight_bytes(model, tuple(float_modules), float_modulation))
    if sensitivity is not None:
        report["sensitivity"] = sensitivity
    pipe.meta = report
    save_pipeline(pipe, out, model, extra_files=report_files(report))
    return out, report


def print_result(out: Path, report: dict) -> int:
    """The CLIs' output: the report table, then what was written."""
    print(markdown(report))
    print(f"wrote {out}/ (context.pt2, upscale_patch.pt2, quant.json, report.json, report.md)")
    return 0
