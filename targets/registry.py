"""The registry: every runtime MossNet runs in, in one place.

CLIs, ``targets export-all``, the artifact store, the benchmark, the conformance writer, the
scripts and the tests ask this module which runtimes and precisions exist; no other module
lists them. Adding a runtime is one module (a ``targets.runtime.Runtime`` subclass, see
docs/adding_a_runtime.md) and one line in ``RUNTIMES`` below."""
from __future__ import annotations

from pathlib import Path

from mossnet.core.errors import FlagError
from mossnet.core.upscaler import Upscaler

from .coreml.runtime import CoreML
from .executorch.runtime import ExecuTorch
from .pytorch import PT2EProgram, PyTorchFloat
from .runtime import ExportError, Precision, Runtime
from .tflite.runtime import LiteRT
from .threads import default_threads

RUNTIMES: dict[str, Runtime] = {rt.name: rt for rt in (PyTorchFloat(), PT2EProgram(), ExecuTorch(), LiteRT(), CoreML())}


def get(name: str) -> Runtime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ExportError(f"no runtime {name!r}; choose from {', '.join(RUNTIMES)}") from None


def exporters() -> list[Runtime]:
    """The runtimes that write artifacts (ExecuTorch, LiteRT, Core ML)."""
    return [rt for rt in RUNTIMES.values() if rt.exports]


def builds() -> list[tuple[Runtime, Precision]]:
    """Every exportable (runtime, precision), in registry order."""
    return [(rt, p) for rt in exporters() for p in rt.precisions]


def build(key: str) -> tuple[Runtime, Precision]:
    """``RUNTIME:PRECISION`` (e.g. ``tflite:int8``) -> the pair."""
    name, _, precision = key.partition(":")
    rt = get(name)
    return rt, rt.precision(precision or rt.default_precision)


def runtime_of(path: str | Path) -> Runtime:
    """The runtime an artifact path belongs to: a checkpoint ``.pt``, a quantized pipeline
    folder, a ``.pte``, a ``.tflite`` or a ``.coreml`` folder."""
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: no such file or folder")
    for rt in RUNTIMES.values():
        if rt.owns(path):
            return rt
    raise ExportError(f"{path}: not a checkpoint, quantized pipeline or artifact "
                      f"({', '.join(rt.suffix or rt.name for rt in RUNTIMES.values())})")


def open_upscaler(path: str | Path, patch: int | None = None, threads: int | None = None) -> Upscaler:
    """Load any checkpoint or artifact into an ``Upscaler`` (``mossnet.load``); ``threads``
    None: this machine's policy (``targets.threads``)."""
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or not 1 <= threads <= 256):
        raise FlagError(f"--threads: must be a whole number from 1 to 256, not {threads!r}")
    rt = runtime_of(path)
    rt.set_threads(threads or default_threads(rt.name)[0])
    return rt.open(path, patch=patch)
