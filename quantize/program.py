"""The quantized pipeline: MossNet's two programs through PT2E, saved as torch.export archives.

A quantized pipeline is a folder:
  context.pt2        torch.export archive of the int8 (q/dq) context program
  upscale_patch.pt2  torch.export archive of the int8 (q/dq) patch program
  quant.json         recipe, tiling, model config, checkpoint hash, calibration, report
Exporters read this folder (``load_pipeline``); the graphs are kept unfolded, see
``quantize.recipe``."""
from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torchao.quantization.pt2e import move_exported_model_to_eval
from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

from mossnet.core.arch import MossNet
from mossnet.core.atomic import replace_folder, sweep_stale, temp_sibling
from mossnet.core.errors import UserError, one_line
from mossnet.core.hashing import sha256, sha256_text
from mossnet.core.pipeline import ContextProgram, PatchProgram, example_inputs
from mossnet.core.tiling import DEFAULT_PATCH, TilingConfig, upscale_tiled

from .calibration import CalibrationImage
from .recipe import make_quantizer
from .validate import check_meta, check_program_inputs

FORMAT_VERSION = 1
PROGRAM_FILES = {"context": "context.pt2", "upscale_patch": "upscale_patch.pt2"}
ARTIFACTS = Path("artifacts")  # where pipelines and exported artifacts go by default


class QuantizedPipelineError(UserError):
    """A one-line problem with a quantized pipeline folder."""


@dataclass
class QuantizedPipeline:
    context: torch.fx.GraphModule
    upscale_patch: torch.fx.GraphModule
    tiling: TilingConfig
    meta: dict = field(default_factory=dict)

    def programs(self):
        """numpy callables for ``mossnet.core.tiling.upscale_tiled``."""
        @torch.no_grad()
        def context_fn(thumb):
            return self.context(torch.from_numpy(thumb)).numpy()

        @torch.no_grad()
        def patch_fn(patch, modulation):
            return self.upscale_patch(torch.from_numpy(patch), torch.from_numpy(modulation)).numpy()
        return context_fn, patch_fn

    def upscale(self, image: np.ndarray, progress=None) -> np.ndarray:
        return upscale_tiled(image, *self.programs(), self.tiling, progress=progress)


def float_programs(model: MossNet, tiling: TilingConfig):
    return ContextProgram(model).eval(), PatchProgram(model, tiling).eval()


def capture(program: torch.nn.Module, example: tuple) -> torch.fx.GraphModule:
    return torch.export.export(program, example).module()


def prepare(model: MossNet, tiling: TilingConfig, quantizer=None):
    """Exported context and patch programs with observers inserted."""
    quantizer = quantizer or make_quantizer()
    ex_ctx, ex_patch = example_inputs(model, tiling)
    ctx, patch = float_programs(model, tiling)
    return (prepare_pt2e(capture(ctx, ex_ctx), quantizer),
            prepare_pt2e(capture(patch, ex_patch), quantizer))


@torch.no_grad()
def calibrate(model: MossNet, prepared_ctx, prepared_patch, calib: list[CalibrationImage],
              progress: Callable[[Iterable], Iterable] = iter) -> None:
    """Run the calibration tiles through the observers; modulation comes from the float
    context (what the int8 context approximates)."""
    float_ctx = ContextProgram(model).eval()
    for item in progress(calib):
        thumb = torch.from_numpy(item.thumb)
        prepared_ctx(thumb)
        modulation = float_ctx(thumb)
        for patch in item.patches:
            prepared_patch(torch.from_numpy(patch), modulation)


def convert(prepared: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """Observers -> quantize/dequantize, weights left unfolded (see ``quantize.recipe``)."""
    converted = convert_pt2e(copy.deepcopy(prepared), fold_quantize=False)
    move_exported_model_to_eval(converted)
    return converted


def default_pipeline_dir(ckpt: str | Path, method: str, root: str | Path = ARTIFACTS,
                         patch: int | None = None) -> Path:
    """Where a pipeline of ``ckpt`` lives: ``ROOT/<ckpt stem>_int8_<method>``, under
    ``ROOT/patch<P>/`` for a patch other than the default. ``quantize.ptq``/``qat`` write there
    by default, the exporters and ``targets.store`` look there."""
    root = Path(root) if patch in (None, DEFAULT_PATCH) else Path(root) / f"patch{patch}"
    return root / f"{Path(ckpt).stem}_int8_{method}"


def pipeline_identity(meta: dict) -> dict:
    """What an exported artifact records of the pipeline it came from: its method, one hash
    over its programs (a re-quantized pipeline makes the artifact stale) and the layers its
    recipe keeps float (what a runtime's structural check may find float)."""
    hashes = meta.get("program_sha256", {})
    return {"method": meta.get("method"),
            "sha256": sha256_text(json.dumps(hashes, sort_keys=True)) if hashes else None,
            "float_layers": list(meta.get("recipe", {}).get("float_modules", []))}


PIPELINE_FILES = set(PROGRAM_FILES.values()) | {"quant.json", "report.json", "report.md"}


def check_replaceable(folder: Path) -> None:
    """Refuse to replace anything this tool did not write: a folder may be replaced only when
    it is empty or holds a quantized pipeline (a quant.json of ours and nothing but the files
    a pipeline has)."""
    if not folder.exists() and not folder.is_symlink():
        return
    if not folder.is_dir():
        raise QuantizedPipelineError(f"{folder}: exists and is not a folder (choose another --out)")
    entries = {p.name for p in folder.iterdir()}
    if not entries:
        return
    foreign = sorted(entries - PIPELINE_FILES)
    if "quant.json" not in entries or foreign:
        what = (f"holds {', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}" if foreign
                else "has no quant.json")
        raise QuantizedPipelineError(f"{folder}: exists and is not a quantized pipeline ({what}); refusing to "
                                     f"replace it (choose another --out)")
    try:
        meta = json.loads((folder / "quant.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or "format_version" not in meta:
        raise QuantizedPipelineError(f"{folder}: its quant.json was not written by this tool; refusing to "
                                     f"replace the folder (choose another --out)")


def save_pipeline(pipe: QuantizedPipeline, folder: str | Path, model: MossNet,
                  extra_files: dict[str, str] | None = None) -> Path:
    """Write the folder (programs, quant.json, ``extra_files`` such as the report)
    atomically: into a hidden sibling, then swapped into place (``mossnet.core.atomic``)."""
    folder = Path(folder)
    check_replaceable(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(folder)
    ex_ctx, ex_patch = example_inputs(model, pipe.tiling)
    tmp = temp_sibling(folder, "partial")
    tmp.mkdir()
    try:
        for name, example in (("context", ex_ctx), ("upscale_patch", ex_patch)):
            torch.export.save(torch.export.export(getattr(pipe, name), example), tmp / PROGRAM_FILES[name])
        meta = dict(pipe.meta, format_version=FORMAT_VERSION, tiling=pipe.tiling.to_dict(),
                    model_config=model.cfg.to_dict(),
                    program_sha256={n: sha256(tmp / f) for n, f in PROGRAM_FILES.items()})
        (tmp / "quant.json").write_text(json.dumps(meta, indent=1) + "\n")
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
        check_replaceable(folder)  # again: minutes have passed
        replace_folder(tmp, folder)
        pipe.meta = meta
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_pipeline(folder: str | Path) -> QuantizedPipeline:
    """Load a quantized pipeline folder; refuses a tampered, foreign or inconsistent one with
    one line (``quantize.validate`` checks quant.json field by field, then the programs'
    hashes, then their input shapes against the tiling)."""
    folder = Path(folder)
    meta_path = folder / "quant.json"
    if not meta_path.is_file():
        raise QuantizedPipelineError(f"{folder}: not a quantized MossNet pipeline (no quant.json)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise QuantizedPipelineError(f"{meta_path}: unreadable (not UTF-8 text)") from None
    except ValueError as exc:
        raise QuantizedPipelineError(f"{meta_path}: unreadable (not valid JSON: {exc})") from None
    try:
        tiling, cfg = check_meta(meta, FORMAT_VERSION, tuple(PROGRAM_FILES))
    except ValueError as exc:
        raise QuantizedPipelineError(f"{meta_path}: {exc}") from None
    programs = {}
    for name, file in PROGRAM_FILES.items():
        path = folder / file
        if not path.is_file():
            raise QuantizedPipelineError(f"{path}: missing")
        if sha256(path) != meta["program_sha256"][name]:
            raise QuantizedPipelineError(f"{path}: SHA-256 does not match quant.json (modified or corrupt)")
        try:
            exported = torch.export.load(path)
        except Exception as exc:  # a re-signed file that is no torch.export archive
            raise QuantizedPipelineError(f"{path}: not a loadable torch.export program "
                                         f"({one_line(exc, 120)})") from None
        try:
            check_program_inputs(name, exported, tiling, cfg)
        except ValueError as exc:
            raise QuantizedPipelineError(f"{path}: {exc}") from None
        programs[name] = exported.module()
    return QuantizedPipeline(programs["context"], programs["upscale_patch"], tiling, meta)
