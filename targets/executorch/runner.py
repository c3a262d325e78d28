"""Run a MossNet .pte in ExecuTorch's Python runtime (the same C++ runtime phones use)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..common import ExportError, Programs
from ..manifest import load_manifest


def load_runtime():
    """ExecuTorch's C++ runtime bindings (the extension module).

    Imported directly rather than through ``executorch.runtime``, whose wrapper module imports
    ``executorch.exir`` and torchao (the export toolchain): in a process that only runs
    programs that cost about 135 MB of resident memory and ~10 s of start-up
    (``python -m mossnet.bench``, docs/benchmarks.md). ``Runtime.load_program(path)`` is this
    same ``_load_program`` call; executorch is pinned, and the tests run every .pte through it."""
    try:
        from executorch.extension.pybindings import _C
    except ImportError:
        raise ExportError("ExecuTorch is not installed: pip install -e '.[executorch]'") from None
    return _C  # torch (imported above) must be loaded first: the extension links libtorch


def pte_programs(path: str | Path) -> Programs:
    """numpy ``context_fn``/``patch_fn`` over the .pte's two methods."""
    rt = load_runtime()
    program = rt._load_program(str(path), program_verification=rt.Verification.InternalConsistency)
    context, patch = program.load_method("context"), program.load_method("upscale_patch")

    def context_fn(thumb: np.ndarray) -> np.ndarray:
        return context([torch.from_numpy(thumb)])[0].numpy()

    def patch_fn(p: np.ndarray, modulation: np.ndarray) -> np.ndarray:
        return patch([torch.from_numpy(p), torch.from_numpy(modulation)])[0].numpy()
    return context_fn, patch_fn


def load(artifact: str | Path, scale: int | None = None) -> tuple[Programs, dict]:
    manifest = load_manifest(artifact, "executorch", scale)
    return pte_programs(artifact), manifest
