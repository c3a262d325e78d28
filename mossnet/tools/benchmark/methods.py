"""What the benchmark measures (one ``MethodSpec`` per model x runtime x precision) and how
each one is loaded into an LR -> SR function. Heavy imports happen inside the loaders, so a
memory child only imports the runtime it measures."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class MethodSpec:
    key: str
    label: str
    runtime: str  # pytorch, executorch, tflite, coreml, PIL, torch
    precision: str
    model: str = "MossNet"  # MossNet (the checkpoint), bicubic, ESPCN
    tiled: bool = True  # runs through mossnet.tiling.upscale_tiled
    timed: bool = True  # False: no meaningful latency here (Core ML's MIL interpreter)
    quality: bool = True
    artifact: bool = False  # needs an exported artifact


SPECS = [
    MethodSpec("bicubic-pil", "bicubic (PIL)", "PIL", "uint8", model="bicubic", tiled=False),
    MethodSpec("bicubic-matlab", "bicubic (MATLAB-compatible, eval protocol)", "torch", "float64",
               model="bicubic", tiled=False, timed=False),
    MethodSpec("espcn-untrained", "ESPCN architecture, random weights (speed only)", "pytorch", "fp32",
               model="ESPCN", tiled=False, quality=False),
    MethodSpec("pytorch-fp32", "PyTorch eager fp32, tiled", "pytorch", "fp32"),
    MethodSpec("pytorch-fp32-whole", "PyTorch eager fp32, whole image", "pytorch", "fp32", tiled=False,
               quality=False),
    MethodSpec("executorch-fp32", "ExecuTorch fp32 (XNNPACK)", "executorch", "fp32", artifact=True),
    MethodSpec("executorch-int8-ptq", "ExecuTorch int8 PTQ (XNNPACK)", "executorch", "int8-ptq", artifact=True),
    MethodSpec("executorch-int8-qat", "ExecuTorch int8 QAT (XNNPACK)", "executorch", "int8-qat", artifact=True),
    MethodSpec("tflite-fp32", "LiteRT fp32", "tflite", "fp32", artifact=True),
    MethodSpec("tflite-int8", "LiteRT int8", "tflite", "int8", artifact=True),
    MethodSpec("coreml-fp16", "Core ML fp16 (MIL interpreter)", "coreml", "fp16", artifact=True, timed=False),
    MethodSpec("coreml-w8a8", "Core ML w8a8 (MIL interpreter)", "coreml", "w8a8", artifact=True, timed=False),
]
BY_KEY = {s.key: s for s in SPECS}
# QAT trains for minutes: measured only when asked for (--methods ... executorch-int8-qat).
DEFAULT_KEYS = [s.key for s in SPECS if s.key != "executorch-int8-qat"]
REFERENCE_KEY = "pytorch-fp32"  # speed-ups and output parity are against this
HEADLINE_KEY = "executorch-int8-ptq"  # the build the targets are about


@dataclass
class Loaded:
    spec: MethodSpec
    upscale: Callable[[np.ndarray], np.ndarray]  # LR uint8 HxWx3 -> SR uint8
    tiling: object = None  # mossnet.tiling.TilingConfig for tiled methods
    programs: tuple | None = None  # (context_fn, patch_fn) for tiled methods
    artifact: Path | None = None
    manifest: dict = field(default_factory=dict)

    def run(self, image: np.ndarray, out=None) -> np.ndarray:
        """The job: tiled methods write into ``out`` when given (see mossnet.benchmark.stream)."""
        if self.spec.tiled:
            from mossnet.tiling import upscale_tiled
            return upscale_tiled(image, *self.programs, self.tiling, out=out)
        return self.upscale(image)


def set_threads(runtime: str, threads: int | None) -> str:
    """Apply the thread count where the runtime exposes one; say what was done.

    ExecuTorch: call this before the process runs its first ExecuTorch program; resizing the
    XNNPACK thread pool after it has run crashed the process (executorch 1.5.1, measured), so
    the benchmark compares thread counts in fresh processes."""
    if not threads:
        return "runtime default"
    if runtime in ("pytorch", "torch"):
        import torch
        torch.set_num_threads(threads)
        return f"{threads} (torch.set_num_threads)"
    if runtime == "executorch":
        from executorch.extension.pybindings import _C
        _C._unsafe_reset_threadpool(threads)
        return f"{threads} (ExecuTorch threadpool)"
    if runtime == "tflite":
        return "1 (targets.tflite.runner creates the Interpreter without num_threads)"
    return "n/a"


def load(spec: MethodSpec, ckpt: str | Path, artifacts: Path | None = None, patch: int | None = None) -> Loaded:
    """Load one method. ``artifacts``/``patch`` locate an already built artifact
    (``mossnet.benchmark.artifacts.ensure_artifact`` builds them first)."""
    if spec.key == "bicubic-pil":
        from .baselines import pil_bicubic
        return Loaded(spec, pil_bicubic(4))
    if spec.key == "bicubic-matlab":
        from mossnet.eval import bicubic_upscale
        return Loaded(spec, bicubic_upscale(4))
    if spec.key == "espcn-untrained":
        from .baselines import espcn_upscale
        return Loaded(spec, espcn_upscale(4))
    if spec.runtime == "pytorch":
        from mossnet.checkpoint import load_model
        from mossnet.pipeline import model_tiling, torch_programs, upscale_whole
        model, _ = load_model(ckpt)
        tiling = model_tiling(model, patch=patch)
        if not spec.tiled:
            return Loaded(spec, lambda lr: upscale_whole(model, lr, tiling), tiling=tiling)
        programs = torch_programs(model, tiling)
        return Loaded(spec, _tiled(programs, tiling), tiling, programs)
    from mossnet.tiling import DEFAULT_PATCH
    from targets.manifest import tiling_of
    from .artifacts import checkpoint_sha256, find_artifact
    path = find_artifact(Path(artifacts), spec.runtime, spec.precision, checkpoint_sha256(ckpt),
                         patch or DEFAULT_PATCH)
    if path is None:
        raise FileNotFoundError(f"no {spec.runtime} {spec.precision} artifact of {ckpt} under {artifacts}")
    runner = __import__(f"targets.{spec.runtime}.runner", fromlist=["load"])
    programs, manifest = runner.load(path)
    tiling = tiling_of(manifest)
    return Loaded(spec, _tiled(programs, tiling), tiling, programs, path, manifest)


def _tiled(programs, tiling):
    from mossnet.tiling import upscale_tiled
    return lambda lr: upscale_tiled(lr, *programs, tiling)


def import_runtime(runtime: str) -> None:
    """Import what a runtime needs before loading a model: the memory child reports the RSS
    after this step as the import baseline."""
    if runtime in ("pytorch", "torch"):
        import torch  # noqa: F401
    elif runtime == "executorch":
        from targets.executorch.runner import load_runtime
        load_runtime()
    elif runtime == "tflite":
        import targets.tflite.runner  # noqa: F401
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
    elif runtime == "coreml":
        from targets.coreml.runner import coremltools
        coremltools()
    else:
        from PIL import Image  # noqa: F401
