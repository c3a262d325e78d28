"""The two in-process references as runtimes: float eager PyTorch (a checkpoint ``.pt``) and
the int8 PyTorch program (PT2E q/dq graphs in a quantized pipeline folder). Neither exports:
their artifacts come from ``mossnet.train`` and ``quantize.ptq`` / ``quantize.qat``; every
exported artifact is held to one of them."""
from __future__ import annotations

from pathlib import Path

from mossnet.core.errors import FlagError
from mossnet.core.upscaler import Upscaler

from .runtime import ExportError, Precision, Runtime


class PyTorchFloat(Runtime):
    name = "pytorch"
    label = "PyTorch eager fp32"
    packages = ("torch",)
    suffix = ".pt"
    precisions = (Precision("fp32"),)
    default_precision = "fp32"
    exports = False

    def set_threads(self, threads: int | None) -> str:
        self.threads = threads
        if not threads:
            return "runtime default"
        import torch
        torch.set_num_threads(threads)
        return f"{threads} (torch.set_num_threads)"

    def open(self, path: str | Path, patch: int | None = None) -> Upscaler:
        from mossnet.core.checkpoint import load_model
        from mossnet.core.pipeline import model_tiling, torch_programs
        model, _ = load_model(path)
        try:
            tiling = model_tiling(model, patch=patch)
        except ValueError as exc:
            raise FlagError(f"--patch: {exc}") from None
        return Upscaler(*torch_programs(model, tiling), tiling, self.name, "fp32", Path(path))


class PT2EProgram(Runtime):
    name = "pt2e"
    label = "int8 PyTorch program (PT2E q/dq)"
    packages = ("torch", "torchao", "executorch")
    extra = "quantize"
    precisions = (Precision("int8-ptq", "ptq", 200.0), Precision("int8-qat", "qat", 200.0))
    default_precision = "int8-ptq"
    exports = False

    set_threads = PyTorchFloat.set_threads

    def owns(self, path: Path) -> bool:
        return (path / "quant.json").is_file()

    def open(self, path: str | Path, patch: int | None = None) -> Upscaler:
        self.require()
        from quantize.program import load_pipeline
        pipe = load_pipeline(path)
        if patch is not None and patch != pipe.tiling.patch:
            raise ExportError(f"{path}: quantized at patch {pipe.tiling.patch}, not {patch}")
        return Upscaler(*pipe.programs(), pipe.tiling, self.name, f"int8-{pipe.meta.get('method', 'ptq')}", Path(path))
