"""Run a MossNet Core ML artifact: ``MLModel.predict`` on macOS, the MIL interpreter elsewhere.

Core ML has no runtime on Linux ("Model prediction is only supported on macOS"), so parity
there is checked by executing the saved mlprogram with ``mil_interpreter``."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..common import ExportError, Programs
from ..manifest import load_manifest

PROGRAMS = {"context": (("thumbnail",), "modulation"), "upscale_patch": (("patch", "modulation"), "hr_patch")}


def coremltools():
    try:
        import coremltools as ct
    except ImportError:
        raise ExportError("coremltools is not installed: pip install -e '.[coreml]'") from None
    return ct


def program_paths(artifact: str | Path) -> dict[str, Path]:
    return {name: Path(artifact) / f"{name}.mlpackage" for name in PROGRAMS}


def interpreter_programs(artifact: str | Path) -> Programs:
    """The saved programs executed by the MIL interpreter (any OS)."""
    from .mil_interpreter import MILInterpreter, load_program
    coremltools()
    run = {name: MILInterpreter(load_program(path)) for name, path in program_paths(artifact).items()}
    return _callables(lambda name, feeds: run[name](feeds))


def predict_programs(artifact: str | Path) -> Programs:
    """The saved programs run by Core ML itself (macOS only)."""
    ct = coremltools()
    models = {name: ct.models.MLModel(str(path)) for name, path in program_paths(artifact).items()}
    return _callables(lambda name, feeds: models[name].predict(feeds))


def _callables(run) -> Programs:
    def call(name, *arrays):
        inputs, output = PROGRAMS[name]
        return np.asarray(run(name, dict(zip(inputs, arrays)))[output], dtype=np.float32)
    return (lambda thumb: call("context", thumb)), (lambda patch, mod: call("upscale_patch", patch, mod))


def load(artifact: str | Path, scale: int | None = None) -> tuple[Programs, dict]:
    manifest = load_manifest(artifact, "coreml", scale)
    programs = predict_programs(artifact) if sys.platform == "darwin" else interpreter_programs(artifact)
    return programs, manifest
