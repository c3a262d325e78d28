"""Run a MossNet .pte in ExecuTorch's Python runtime (the same C++ runtime phones use)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..common import ExportError, Programs
from ..manifest import load_manifest


def load_runtime():
    try:
        from executorch.runtime import Runtime
    except ImportError:
        raise ExportError("ExecuTorch is not installed: pip install -e '.[executorch]'") from None
    return Runtime.get()


def pte_programs(path: str | Path) -> Programs:
    """numpy ``context_fn``/``patch_fn`` over the .pte's two methods."""
    program = load_runtime().load_program(Path(path))
    context, patch = program.load_method("context"), program.load_method("upscale_patch")

    def context_fn(thumb: np.ndarray) -> np.ndarray:
        return context.execute([torch.from_numpy(thumb)])[0].numpy()

    def patch_fn(p: np.ndarray, modulation: np.ndarray) -> np.ndarray:
        return patch.execute([torch.from_numpy(p), torch.from_numpy(modulation)])[0].numpy()
    return context_fn, patch_fn


def load(artifact: str | Path, scale: int | None = None) -> tuple[Programs, dict]:
    manifest = load_manifest(artifact, "executorch", scale)
    return pte_programs(artifact), manifest
