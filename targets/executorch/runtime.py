"""ExecuTorch: one ``.pte`` with two methods (``context``, ``upscale_patch``), lowered to
XNNPACK, run in ExecuTorch's C++ runtime (the runtime phones use): through a small native runner
built once per machine (``targets.executorch.native``; no torch in the process), else through
ExecuTorch's Python bindings (which import torch).

fp32 lowers the float programs; int8-ptq / int8-qat lower a quantized pipeline folder with
the weights folded to int8."""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

from mossnet.core.tiling import PROGRAMS

from ..runtime import ExportError, Precision, Programs, Runtime, native_stderr_filtered
from . import native
from .native import SCALAR_TYPES


def check_pte(path: Path) -> None:
    """The file layout ExecuTorch's loader assumes: the flatbuffer identifier ``ET12`` and, in
    the extended header ``eh00``, a program and segment region that fit the file. A file that
    fails here never reaches the C++ loader (which logs the identifier's bytes; non-UTF-8 ones
    made it call ``terminate``)."""
    if not path.is_file():
        raise ExportError(f"{path}: not a .pte file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(40)
    if len(head) < 8 or head[4:8] != b"ET12":
        raise ExportError(f"{path}: not an ExecuTorch program (no ET12 flatbuffer identifier)")
    if head[8:12] == b"eh00":
        if len(head) < 32:
            raise ExportError(f"{path}: not an ExecuTorch program (truncated header)")
        length, program_size, segment_base = struct.unpack_from("<IQQ", head, 12)
        segment_size = struct.unpack_from("<Q", head, 32)[0] if length >= 32 and len(head) >= 40 else 0
        if program_size > size or segment_base > size or (segment_size and segment_base + segment_size != size):
            raise ExportError(f"{path}: truncated or padded ExecuTorch program (its header says "
                              f"{max(program_size, segment_base + segment_size)} bytes, the file has {size})")


# The ExecuTorch runtime the Android demo links (android_demo/gradle.properties must say the same;
# tests/test_demo_apps.py checks): the exporter's version, published on Maven Central as 1.5.1
# (android_demo/README.md, "ExecuTorch runtime version").
ANDROID_RUNTIME = ("org.pytorch:executorch-android", "1.5.1")
COMPAT_POLICY = ("pytorch/executorch runtime/COMPATIBILITY.md: a .pte written by X.Y loads on the X.Y runtime "
                 "and the next minor (or major) release; no guarantee for an older runtime")


def policy_covers(exporter: str, runtime: str) -> bool:
    """ExecuTorch's Runtime Compatibility Policy (backward compatibility only): the runtime is
    the exporter's minor release or the next one (X.Y+1, or X+1.0)."""
    (em, en), (rm, rn) = (tuple(int(p) for p in v.split(".")[:2]) for v in (exporter, runtime))
    return (rm == em and en <= rn <= en + 1) or (rm == em + 1 and rn == 0)


class ExecuTorch(Runtime):
    name = "executorch"
    label = "ExecuTorch (XNNPACK)"
    packages = ("executorch",)
    extra = "executorch"
    suffix = ".pte"
    precisions = (Precision("fp32"), Precision("int8-ptq", "ptq", 45.0), Precision("int8-qat", "qat", 45.0))
    default_precision = "int8-ptq"
    native_loader = True
    _pool_threads: int | None = None  # what this process's XNNPACK pool was sized to

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

    def runtime_compat(self, toolkit: dict) -> dict | None:
        exporter = toolkit.get("executorch")
        if not exporter:
            return None
        package, runtime = ANDROID_RUNTIME
        return {"exporter": f"executorch {exporter} (PyPI)", "android_runtime": f"{package}:{runtime}",
                "policy_guaranteed": policy_covers(exporter, runtime), "policy": COMPAT_POLICY,
                "checked_by": "the app's Verify model self-test (android_demo/README.md)"}

    def native(self) -> native.Runner | None:
        """The native runner (built on first use), or None where the bindings run programs
        (``targets.executorch.native.runner``)."""
        self.require()
        return native.runner()

    def set_threads(self, threads: int | None) -> str:
        """XNNPACK's pool: set it before the process runs its first program (resizing it after
        use crashed executorch 1.5.1, measured). It is one pool per process, whichever engine
        sizes it. torch's own pool goes to one thread where torch runs: the bindings copy
        tensors with torch ops, and idle OpenMP workers spinning beside XNNPACK's took the cores
        from it (docs/benchmarks.md)."""
        self.threads = threads
        if not threads:
            return "runtime default"
        runner = self.native()
        if runner is None or "torch" in sys.modules:
            import torch
            torch.set_num_threads(1)
        if ExecuTorch._pool_threads != threads:  # the pool is process-wide: size it once per count
            with native_stderr_filtered():
                if runner is not None:
                    runner.set_threads(threads)
                else:
                    self.bindings()._unsafe_reset_threadpool(threads)
            ExecuTorch._pool_threads = threads
        if runner is not None:
            return f"{threads} (XNNPACK thread pool, native runner)"
        return f"{threads} (XNNPACK thread pool; torch intra-op 1)"

    def commands(self, sub) -> dict:
        import argparse
        b = sub.add_parser("build-runner", help="build the native ExecuTorch runner now (else: on first use)",
                           description=native.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        b.add_argument("--force", action="store_true", help="build it again (also after a failed build)")

        def build(args) -> int:
            self.require()
            return native.build_command(args.force)
        return {"build-runner": build}

    def import_runtime(self) -> None:
        if self.native() is None:
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

    def check_file(self, path: Path) -> None:
        check_pte(path)

    def load(self, path: Path):
        """The program, its flatbuffer verified, with cpuinfo's noise filtered out: a
        ``native.Program``, else the bindings' program. ``check_pte`` first: the loader is C++."""
        check_pte(path)
        runner = self.native()
        with native_stderr_filtered():
            if runner is not None:
                try:
                    return runner.open(path)
                except native.NativeError as exc:  # "PATH: the C++ loader refused it (Error::...)"
                    raise ExportError(str(exc)) from None
            rt = self.bindings()
            return rt._load_program(str(path), program_verification=rt.Verification.InternalConsistency)

    def declare(self, path: Path) -> dict:
        """Method names and every input and output's sizes and dtype, from the method metadata."""
        program = self.load(path)
        if isinstance(program, native.Program):
            out = {}
            try:
                for name in program.methods():
                    out[name] = program.signature(name)
                    with native_stderr_filtered():
                        program.load(name)  # the delegate (XNNPACK) blob is parsed here
            except native.NativeError as exc:
                raise ExportError(str(exc)) from None
            return out
        names = [program.get_method_name(i) for i in range(program.num_methods())]
        out = {}
        for name in names:
            meta = program.method_meta(name)

            def tensor(t):
                return {"shape": list(t.sizes()), "dtype": SCALAR_TYPES.get(int(t.dtype()), f"code {int(t.dtype())}")}
            out[name] = {"inputs": [tensor(meta.input_tensor_meta(i)) for i in range(meta.num_inputs())],
                         "outputs": [tensor(meta.output_tensor_meta(i)) for i in range(meta.num_outputs())]}
            with native_stderr_filtered():
                program.load_method(name)  # the delegate (XNNPACK) blob is parsed here
        return out

    def programs(self, path: Path) -> Programs:
        program = self.load(path)
        if isinstance(program, native.Program):
            with native_stderr_filtered():
                try:
                    context, patch = (program.load(name) for name in PROGRAMS)
                except native.NativeError as exc:
                    raise ExportError(str(exc)) from None
            return (lambda thumb: context(thumb)[0]), (lambda p, modulation: patch(p, modulation)[0])
        import torch
        with native_stderr_filtered():
            context, patch = (program.load_method(name) for name in PROGRAMS)

        def context_fn(thumb: np.ndarray) -> np.ndarray:
            return context([torch.from_numpy(thumb)])[0].numpy()

        def patch_fn(p: np.ndarray, modulation: np.ndarray) -> np.ndarray:
            return patch([torch.from_numpy(p), torch.from_numpy(modulation)])[0].numpy()
        return context_fn, patch_fn
