"""What a runtime is: one object that knows its precisions, how to write an artifact, and how to
run one.

Every runtime (``targets.registry`` lists them) subclasses ``Runtime``. An exporting runtime
implements ``convert`` (turn the two programs into bytes on disk, nothing else) and
``programs`` (run an artifact on disk); ``targets.publish`` does the rest for all of them
(atomic write, parity, manifest). Heavy imports (torch, executorch, coremltools, LiteRT) happen
inside the methods, so listing the runtimes costs nothing."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

from mossnet.core.errors import UserError, one_line
from mossnet.core.upscaler import Upscaler

if TYPE_CHECKING:
    from .source import ExportSource

Programs = tuple[Callable, Callable]  # numpy context_fn(thumb), patch_fn(patch, modulation)


@contextlib.contextmanager
def native_stderr_filtered(drop=("cpuinfo", "Created TensorFlow Lite XNNPACK delegate", "Resetting threadpool")):
    """Route file descriptor 2 through a file while native code loads a program and pass on
    only the lines that matter: XNNPACK's cpuinfo warns about /sys files it cannot read in
    containers, LiteRT announces its delegate, ExecuTorch its thread pool; the user can do
    nothing about any of them."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip() and not any(word in line for word in drop):
                    print(line, file=sys.stderr)


class ExportError(UserError):
    """A one-line problem preparing, exporting or running an artifact."""


@dataclass(frozen=True)
class Precision:
    """One build of a runtime. ``quantized_by`` names the int8 pipeline (``quantize.ptq`` or
    ``quantize.qat``) it is converted from; its parity reference is then that int8 PyTorch
    program, else float PyTorch. ``parity_bound_db``: the lowest output PSNR against the
    reference that the tests accept and the publish step requires (float 60, int8 45; Core ML's fp16
    builds from their fp16 range, ``targets/coreml/runtime.py``)."""
    name: str
    quantized_by: str | None = None
    parity_bound_db: float = 60.0

    @property
    def reference(self) -> str:
        return f"int8 PyTorch program ({self.quantized_by})" if self.quantized_by else "float PyTorch"


class Runtime:
    name: ClassVar[str]  # registry key, manifest "runtime", CLI name
    label: ClassVar[str]
    packages: ClassVar[tuple[str, ...]] = ()  # distributions it needs (versions go in the manifest)
    extra: ClassVar[str] = ""  # the pip extra that installs them
    suffix: ClassVar[str] = ""  # artifact suffix
    precisions: ClassVar[tuple[Precision, ...]]
    default_precision: ClassVar[str]
    exports: ClassVar[bool] = True  # False: its artifacts are made elsewhere (checkpoints, pipelines)
    native_loader: ClassVar[bool] = False  # True: its loader is native code that may abort on a bad file
    folder_entries: ClassVar[tuple[str, ...]] = ()  # a folder artifact's entries (nothing else is ours)
    timed: ClassVar[bool] = True  # False: no real runtime on this OS, so no meaningful latency

    def __init__(self):
        self.threads: int | None = None

    def __repr__(self) -> str:
        return f"<runtime {self.name}>"

    # -- what it is ---------------------------------------------------------------------------
    def precision(self, name: str) -> Precision:
        for p in self.precisions:
            if p.name == name:
                return p
        raise ExportError(f"{self.name} has no precision {name!r}; choose from "
                          f"{', '.join(p.name for p in self.precisions)}")

    def require(self) -> None:
        """Fail with one line naming the pip extra if the runtime's packages are missing."""
        missing = [m for m in self.modules() if importlib.util.find_spec(m) is None]
        if missing:
            raise ExportError(f"{self.label} needs {', '.join(missing)}: pip install -e '.[{self.extra}]'")

    def modules(self) -> tuple[str, ...]:
        """Top-level modules that must be importable (defaults to the distributions' names)."""
        return tuple(p.replace("-", "_") for p in self.packages)

    def toolkit(self, **options) -> dict:
        """Versions (and options) that produced an artifact: recorded in its manifest, and an
        artifact built with other versions is stale (``targets.store``)."""
        from importlib.metadata import PackageNotFoundError, version  # 9 ms: not at import
        out = {}
        for package in self.packages:
            try:
                out[package] = version(package)
            except PackageNotFoundError:
                out[package] = None
        return out

    def runtime_compat(self, toolkit: dict) -> dict | None:
        """Which app runtime the demo links against an artifact written with ``toolkit``, and
        whether the runtime's own compatibility policy covers the pair (manifest
        ``runtime_compat``); None where no demo pins a runtime version apart from the exporter."""
        return None

    def set_threads(self, threads: int | None) -> str:
        """Use ``threads`` CPU threads for programs loaded from now on; says what was done."""
        self.threads = threads
        return "runtime default" if not threads else f"{threads}"

    def commands(self, sub) -> dict[str, Callable]:
        """The runtime's own subcommands of ``python -m targets.<runtime>`` besides export and
        upscale: parsers added to ``sub`` (argparse's subparsers), name -> body(args) -> exit code."""
        return {}

    def import_runtime(self) -> None:
        """Import what running an artifact needs (what the benchmark times per runtime)."""
        self.require()
        for module in self.modules():
            importlib.import_module(module)

    def owns(self, path: Path) -> bool:
        """Whether ``path`` is an artifact of this runtime (by its suffix)."""
        return bool(self.suffix) and path.name.endswith(self.suffix)

    # -- exporting and running ----------------------------------------------------------------
    def convert(self, source: ExportSource, precision: Precision, path: Path, **options) -> dict:
        """Write the artifact at ``path`` (a file or a folder) and return the runtime's manifest
        fields: ``toolkit``, ``files`` and, for int8 I/O, ``io_quantization``."""
        raise ExportError(f"{self.name} does not export artifacts")

    def programs(self, path: Path) -> Programs:
        """The artifact's two programs as numpy callables."""
        raise NotImplementedError

    def parity_modes(self, path: Path) -> dict[str, Programs]:
        """Other valid executions of the same artifact (Core ML's fp16 range), by name; publish
        records each one's parity and holds every one to the bound. None by default."""
        return {}

    def check_artifact(self, path: Path, precision: Precision, manifest: dict) -> None:
        """Structural checks of a just-converted artifact against its precision and manifest,
        run by the publish step before anything is written (``ExportError`` refuses it)."""

    # -- validating an artifact before it is run ---------------------------------------------
    def check_file(self, path: Path) -> None:
        """Cheap structural checks (magic numbers, sizes, folder layout) that refuse a file of
        another kind before any loader sees it; ``ExportError`` says what is wrong."""

    def declare(self, path: Path) -> dict | None:
        """What the artifact's programs declare, in ``targets.validate.check_declared``'s
        terms, read from the program itself (None: this runtime cannot tell)."""
        return None

    def declared(self, path: Path, sha: str) -> dict | None:
        """``declare``, behind ``check_file`` and, for a native loader, in a child process
        (``targets.probe``) so that a file that crashes the runtime cannot crash us."""
        self.check_file(path)
        if self.native_loader:
            from .probe import declared_in_child
            return declared_in_child(self, path, sha)
        try:
            return self.declare(path)
        except UserError:
            raise
        except Exception as exc:  # a third-party parser's error on a malformed file
            raise ExportError(f"{path}: not a valid {self.label} program ({one_line(exc, 200)})") from None

    def open(self, path: str | Path, patch: int | None = None) -> Upscaler:
        """An ``Upscaler`` over an artifact, after checking it against its manifest and the
        manifest against the program (``targets.validate``)."""
        from .manifest import load_manifest, tiling_of
        from .validate import check_declared
        path = Path(path)
        if patch is not None:
            raise ExportError(f"{path}: an exported artifact is fixed to its own patch size; drop --patch")
        manifest = load_manifest(path, self.name, [p.name for p in self.precisions])
        self.require()
        declared = self.declared(path, manifest["artifact"]["sha256"])
        if declared is not None:
            check_declared(manifest, declared, path)
        try:
            context_fn, patch_fn = self.programs(path)
        except UserError:
            raise
        except Exception as exc:
            raise ExportError(f"{path}: {self.label} could not load it ({one_line(exc, 200)})") from None
        return Upscaler(guarded(context_fn, path), guarded(patch_fn, path), tiling_of(manifest, path), self.name,
                        manifest["precision"], path, manifest)


def guarded(fn: Callable, path: Path) -> Callable:
    """A program call whose runtime errors are one line naming the artifact, and whose output
    must be finite: a program with corrupt weights (re-signed) loads and runs, and would turn
    into a garbage image with exit 0."""
    import numpy as np

    def call(*arrays):
        try:
            out = fn(*arrays)
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, UserError):
                raise
            raise ExportError(f"{path}: the runtime failed running it ({one_line(exc, 200)})") from None
        if not (np.isfinite(out.min()) and np.isfinite(out.max())):  # NaN or inf reach both; no temporary
            raise ExportError(f"{path}: the program produced NaN or infinite values (corrupt weights?)")
        return out
    return call
