"""ExecuTorch: one ``.pte`` with two methods (``context``, ``upscale_patch``), lowered to
XNNPACK, run in ExecuTorch's C++ runtime through its Python bindings (the runtime phones use).

fp32 lowers the float programs; int8-ptq / int8-qat lower a quantized pipeline folder with
the weights folded to int8."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mossnet.core.pipeline import PROGRAMS

from ..runtime import Precision, Programs, Runtime


class ExecuTorch(Runtime):
    name = "executorch"
    label = "ExecuTorch (XNNPACK)"
    packages = ("executorch",)
    extra = "executorch"
    suffix = ".pte"
    precisions = (Precision("fp32"), Precision("int8-ptq", "ptq", 45.0), Precision("int8-qat", "qat", 45.0))
    default_precision = "int8-ptq"

    def toolkit(self, **options) -> dict:
        return {**super().toolkit(), "backend": "XNNPACK"}

    def bindings(self):
        """ExecuTorch's C++ runtime extension, imported directly: ``executorch.runtime`` also
        imports the export toolchain (``executorch.exir``, torchao), about 135 MB of resident
        memory and seconds of start-up in a process that only runs programs
        (docs/benchmarks.md). ``Runtime.load_program`` is this same ``_load_program`` call."""
        self.require()
        import torch  # noqa: F401  (the extension links libtorch: load it first)
        from executorch.extension.pybindings import _C
        return _C

    def set_threads(self, threads: int | None) -> str:
        """XNNPACK's pool: set it before the process runs its first program (resizing it after
        use crashed executorch 1.5.1, measured). torch's own pool goes to one thread: the
        bindings copy tensors with torch ops, and idle OpenMP workers spinning beside XNNPACK's
        took the cores from it (docs/benchmarks.md)."""
        self.threads = threads
        if not threads:
            return "runtime default"
        import torch
        torch.set_num_threads(1)
        self.bindings()._unsafe_reset_threadpool(threads)
        return f"{threads} (XNNPACK thread pool; torch intra-op 1)"

    def import_runtime(self) -> None:
        self.bindings()

    def convert(self, source, precision: Precision, path: Path, **options) -> dict:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
            XnnpackPartitioner,
        )
        from executorch.exir import to_edge_transform_and_lower
        program = to_edge_transform_and_lower(source.exported(fold_weights=precision.quantized_by is not None),
                                              partitioner=[XnnpackPartitioner()]).to_executorch()
        path.write_bytes(program.buffer)
        return {"toolkit": self.toolkit(), "files": {name: f"method {name}" for name in PROGRAMS}}

    def programs(self, path: Path) -> Programs:
        import torch
        rt = self.bindings()
        program = rt._load_program(str(path), program_verification=rt.Verification.InternalConsistency)
        context, patch = (program.load_method(name) for name in PROGRAMS)

        def context_fn(thumb: np.ndarray) -> np.ndarray:
            return context([torch.from_numpy(thumb)])[0].numpy()

        def patch_fn(p: np.ndarray, modulation: np.ndarray) -> np.ndarray:
            return patch([torch.from_numpy(p), torch.from_numpy(modulation)])[0].numpy()
        return context_fn, patch_fn
