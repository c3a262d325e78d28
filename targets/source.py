"""What an exporter converts: the two programs at one precision, and the reference they must
match (float eager PyTorch, or the int8 PyTorch program of a quantized pipeline folder)."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch

from mossnet.core.arch import MossNet
from mossnet.core.checkpoint import load_model
from mossnet.core.errors import FlagError
from mossnet.core.hashing import sha256
from mossnet.core.pipeline import (
    ContextProgram,
    PatchProgram,
    example_inputs,
    model_tiling,
    torch_programs,
)
from mossnet.core.tiling import TilingConfig

from .runtime import ExportError, Precision, Programs


@dataclass
class ExportSource:
    model: MossNet
    tiling: TilingConfig
    context: torch.nn.Module
    upscale_patch: torch.nn.Module
    reference: Programs
    reference_name: str
    checkpoint_sha256: str
    examples: dict  # program name -> example inputs (they fix the exported shapes)
    pipeline: dict | None = None  # the quantized pipeline's identity, for int8 builds

    def exported(self, fold_weights: bool = False) -> dict[str, torch.export.ExportedProgram]:
        """Both programs through ``torch.export``; ``fold_weights`` folds int8 weights into
        int8 constants (ExecuTorch, Core ML) where litert-torch wants them unfolded."""
        out = {}
        for name in ("context", "upscale_patch"):
            module = getattr(self, name)
            if fold_weights:
                from quantize.recipe import fold_for_target  # int8 graphs only
                module = fold_for_target(copy.deepcopy(module))
            out[name] = torch.export.export(module, self.examples[name])
        return out


def examples_for(model: MossNet, tiling: TilingConfig) -> dict:
    (thumb,), (patch, modulation) = example_inputs(model, tiling)
    return {"context": (thumb,), "upscale_patch": (patch, modulation)}


def export_source(ckpt: str | Path, precision: Precision, quantized_dir: str | Path | None = None,
                  patch: int | None = None) -> ExportSource:
    """The float programs, or those of the quantized pipeline folder a precision needs.

    ``patch``: the tile core. An int8 pipeline was calibrated at one patch size, so asking
    for another is an error rather than a silent re-tiling."""
    model, _ = load_model(ckpt)
    ckpt_sha = sha256(ckpt)
    try:  # a bad --patch is about the patch, whatever else is missing
        tiling = model_tiling(model, patch=patch)
    except ValueError as exc:
        raise FlagError(f"--patch: {exc}") from None
    if precision.quantized_by is None:
        return ExportSource(model, tiling, ContextProgram(model).eval(), PatchProgram(model, tiling).eval(),
                            torch_programs(model, tiling), precision.reference, ckpt_sha, examples_for(model, tiling))
    from quantize.program import default_pipeline_dir, load_pipeline, pipeline_identity
    method = precision.quantized_by
    folder = Path(quantized_dir) if quantized_dir else default_pipeline_dir(ckpt, method)
    if not folder.exists():
        raise ExportError(f"{folder}: no quantized pipeline; run `python -m quantize.{method} {ckpt}` first "
                          f"(or pass --quantized DIR)")
    pipe = load_pipeline(folder)
    if pipe.meta.get("checkpoint_sha256") != ckpt_sha:
        raise ExportError(f"{folder}: quantized from another checkpoint than {ckpt}")
    if pipe.meta.get("method") != method:
        raise ExportError(f"{folder}: a {pipe.meta.get('method')} pipeline, not {method}")
    if patch is not None and patch != pipe.tiling.patch:
        raise ExportError(f"{folder}: quantized at patch {pipe.tiling.patch}, not {patch}; run "
                          f"`python -m quantize.{method} {ckpt} --patch {patch}` (and pass --quantized)")
    return ExportSource(model, pipe.tiling, pipe.context, pipe.upscale_patch, pipe.programs(),
                        precision.reference, ckpt_sha, examples_for(model, pipe.tiling), pipeline_identity(pipe.meta))
