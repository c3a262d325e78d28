"""What every exporter shares: which programs to export, parity against the reference, and
the ``export`` / ``upscale`` command line."""
from __future__ import annotations

import argparse
import copy
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from mossnet.arch import MossNet
from mossnet.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_model
from mossnet.image_io import DEFAULT_MAX_PIXELS, ImageError, check_output_path, load_image, save_image
from mossnet.pipeline import ContextProgram, PatchProgram, example_inputs, model_tiling, torch_programs
from mossnet.tiling import DEFAULT_PATCH, TilingConfig, upscale_tiled

from .manifest import ManifestError, manifest_path, sha256

Programs = tuple[Callable, Callable]  # numpy context_fn, patch_fn for upscale_tiled
PARITY_CROP = (96, 128)  # LR crop of each parity image: 2x2 tiles, keeps exports quick


class ExportError(ValueError):
    """A one-line problem preparing an export."""


@dataclass
class ExportSource:
    """The two programs to export at one precision, and the reference they must match."""
    model: MossNet
    tiling: TilingConfig
    context: torch.nn.Module
    upscale_patch: torch.nn.Module
    reference: Programs  # float eager (float artifacts) or the int8 PyTorch program (int8)
    reference_name: str
    checkpoint_sha256: str
    examples: dict

    def exported(self, fold_weights: bool = False) -> dict[str, torch.export.ExportedProgram]:
        from quantize.recipe import fold_for_target  # int8 graphs only
        out = {}
        for name in ("context", "upscale_patch"):
            module = getattr(self, name)
            if fold_weights:
                module = fold_for_target(copy.deepcopy(module))
            out[name] = torch.export.export(module, self.examples[name])
        return out


def default_quantized_dir(ckpt: str | Path, method: str) -> Path:
    """Where ``python -m quantize.<method> CKPT`` writes its pipeline by default (one rule, the
    quantizer's; imported lazily so float exports do not load the quantization stack)."""
    from quantize.ptq import default_out
    return default_out(ckpt, method)


def export_source(ckpt: str | Path, int8_method: str | None = None,
                  quantized_dir: str | Path | None = None, patch: int | None = None) -> ExportSource:
    """Float programs, or (``int8_method`` "ptq"/"qat") those of a quantized pipeline folder.

    ``patch``: the tile core (default ``mossnet.tiling``'s); an int8 pipeline was calibrated at
    one patch size, so asking for another is an error rather than a silent re-tiling."""
    model, _ = load_model(ckpt)
    ckpt_sha = sha256(ckpt)
    if int8_method is None:
        try:
            tiling = model_tiling(model, patch=patch)
        except ValueError as exc:
            raise ExportError(f"--patch: {exc}") from None
        return ExportSource(model, tiling, ContextProgram(model).eval(), PatchProgram(model, tiling).eval(),
                            torch_programs(model, tiling), "float PyTorch", ckpt_sha, examples_for(model, tiling))
    from quantize.program import QuantizedPipelineError, load_pipeline
    folder = Path(quantized_dir) if quantized_dir else default_quantized_dir(ckpt, int8_method)
    if not folder.exists():
        raise ExportError(f"{folder}: no quantized pipeline; run `python -m quantize.{int8_method} {ckpt}` first "
                          f"(or pass --quantized DIR)")
    try:
        pipe = load_pipeline(folder)
    except QuantizedPipelineError as exc:
        raise ExportError(str(exc)) from None
    if pipe.meta.get("checkpoint_sha256") != ckpt_sha:
        raise ExportError(f"{folder}: quantized from another checkpoint than {ckpt}")
    if pipe.meta.get("method") != int8_method:
        raise ExportError(f"{folder}: a {pipe.meta.get('method')} pipeline, not {int8_method}")
    if patch is not None and patch != pipe.tiling.patch:
        raise ExportError(f"{folder}: quantized at patch {pipe.tiling.patch}, not {patch}; run "
                          f"`python -m quantize.{int8_method} {ckpt} --patch {patch}` (and pass --quantized)")
    return ExportSource(model, pipe.tiling, pipe.context, pipe.upscale_patch, pipe.programs(),
                        f"int8 PyTorch program ({int8_method})", ckpt_sha, examples_for(model, pipe.tiling))


def examples_for(model, tiling: TilingConfig) -> dict:
    """Example inputs of both programs at this tiling (they fix the exported shapes)."""
    (thumb,), (patch, modulation) = example_inputs(model, tiling)
    return {"context": (thumb,), "upscale_patch": (patch, modulation)}


def parity_images() -> list[np.ndarray]:
    """Crops of real photos (the ones scikit-learn installs, else the sample card)."""
    from quantize.calibration import default_calibration_files
    h, w = PARITY_CROP
    images = []
    for path in default_calibration_files()[:2]:
        rgb = load_image(path).rgb
        y, x = max(0, (rgb.shape[0] - h) // 2), max(0, (rgb.shape[1] - w) // 2)
        images.append(rgb[y:y + h, x:x + w])
    return images


def recheck_images() -> list[np.ndarray]:
    """Images an export did not measure parity on: the parity crops turned upside down, and
    uniform noise of an odd size (tests/test_targets.py, scripts/int8_parity.py)."""
    noise = np.random.default_rng(3).integers(0, 256, (37, 90, 3), dtype=np.uint8)
    return [im[::-1, ::-1].copy() for im in parity_images()] + [noise]


def output_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (peak 1) between two float outputs clipped to [0, 1]."""
    mse = float(np.mean((np.clip(a, 0, 1).astype(np.float64) - np.clip(b, 0, 1)) ** 2))
    return 200.0 if mse == 0 else min(200.0, 10 * np.log10(1.0 / mse))


def measure_parity(programs: Programs, reference: Programs, tiling: TilingConfig,
                   images: list[np.ndarray] | None = None) -> float:
    """Lowest PSNR (dB, capped at 200) of the tiled float output against the reference's."""
    images = parity_images() if images is None else images
    return min(output_psnr(upscale_tiled(im, *programs, tiling, as_float=True),
                           upscale_tiled(im, *reference, tiling, as_float=True)) for im in images)


def export_parser(runtime: str, precisions: tuple[str, ...], default: str, doc: str):
    p = argparse.ArgumentParser(prog=f"python -m targets.{runtime}", description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="export the two programs to one artifact + manifest")
    e.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT), help="float checkpoint (default: shipped XS x4)")
    e.add_argument("--precision", choices=precisions, default=default, help=f"default {default}")
    e.add_argument("--quantized", default=None, metavar="DIR",
                   help="quantized pipeline folder for int8 (default artifacts/<ckpt>_int8_<ptq|qat>)")
    e.add_argument("--out", default=f"artifacts/{runtime}", help=f"output folder (default artifacts/{runtime})")
    e.add_argument("--patch", type=int, default=None,
                   help=f"LR tile core in pixels (default {DEFAULT_PATCH}; int8: the quantized pipeline's)")
    u = sub.add_parser("upscale", help="upscale an image with an artifact in the real runtime")
    u.add_argument("input")
    u.add_argument("output")
    u.add_argument("--artifact", required=True, help="the exported artifact (its manifest must be beside it)")
    u.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    return p


def run_upscale(args, load_programs: Callable[[str], tuple[Programs, dict]]) -> int:
    """``upscale`` command: artifact programs + the manifest's tiling through the shared driver."""
    from .manifest import tiling_of
    try:
        check_output_path(args.output)
        programs, manifest = load_programs(args.artifact)
        image = load_image(args.input, max_pixels=args.max_pixels)
        tiling = tiling_of(manifest)
        sr = upscale_tiled(image.rgb, *programs, tiling)
        alpha = None
        if image.alpha is not None:
            from mossnet.upscale import upscale_alpha
            alpha = upscale_alpha(image.alpha, tiling.scale)
        save_image(args.output, sr, alpha=alpha, grayscale=image.grayscale)
    except (CheckpointError, ImageError, ManifestError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.input} -> {args.output} ({manifest['runtime']}, {manifest['precision']})", file=sys.stderr)
    return 0


@contextmanager
def published(artifact: Path):
    """An artifact and its manifest appear together or not at all: on any failure between
    writing the artifact and writing its manifest, the artifact is removed again."""
    try:
        yield
    except BaseException:
        for path in (artifact, manifest_path(artifact)):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.exists():
                path.unlink()
        raise


def artifact_name(source: ExportSource, precision: str, suffix: str) -> str:
    return f"mossnet_{source.model.cfg.variant}_x{source.tiling.scale}_{precision}{suffix}"


def cli(runtime: str, exporter, runner, default_precision: str, doc: str, argv=None) -> int:
    """``python -m targets.<runtime> export|upscale``, the same for every runtime."""
    args = export_parser(runtime, exporter.PRECISIONS, default_precision, doc).parse_args(argv)
    if args.command == "upscale":
        return run_upscale(args, runner.load)
    try:
        artifact = exporter.export(args.ckpt, args.precision, args.out, args.quantized, patch=args.patch)
    except (CheckpointError, ImageError, ManifestError, ExportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {artifact} and {manifest_path(artifact).name}")
    return 0
