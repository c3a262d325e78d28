"""ExecuTorch's C++ runtime without torch: ``native/runner.cpp``, a small C library built once
per machine against the installed executorch wheel and loaded with ctypes.

Why: the wheel's Python bindings link libtorch and take torch tensors, so a process that only
runs a ``.pte`` paid torch's whole import (1.4 s of a 2.2 s command line). The wheel also ships
the runtime itself (``executorch/lib``: the executor, the XNNPACK delegate, the portable and
optimized kernels, the thread pool; no libtorch) and its headers; the runner links those, the
same C++ runtime the Android app links, and takes numpy buffers.

The library is built with the C++ compiler (``$CXX``, else g++ / c++ / clang++) into
``<cache>/executorch-runner/<key>/`` (``mossnet.core.paths.cache_root``), the key a hash of the
source, the executorch build, the compiler and the flags: built once, in a temporary folder
renamed into place, then only loaded. ``python -m targets.executorch build-runner`` builds it
explicitly. Where it cannot be had (no compiler, a failed build, not Linux) programs run through
the bindings, said once on stderr. ``MOSSNET_EXECUTORCH_ENGINE=native|bindings`` forces one."""
from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mossnet.core.atomic import normal_permissions
from mossnet.core.paths import cache_root

from ..runtime import ExportError

ENGINE_ENV = "MOSSNET_EXECUTORCH_ENGINE"
SOURCE = Path(__file__).resolve().parent / "native" / "runner.cpp"
LIBRARY = "libmossnet_executorch.so"
ABI_VERSION = 1  # runner.cpp's kAbiVersion
# Linked --no-as-needed: these register the XNNPACK delegate and the kernels of the operators a
# program runs outside it (aten::full, expand_copy, unsqueeze_copy) from static initializers,
# and the linker would drop a library nothing references. Not the quantized kernels: no MossNet
# program calls them outside the delegate, and the export-time plugin executorch.kernels.quantized
# registers the same operators (a process holding both aborts on the repeated registration).
LINKED = ("executorch", "executorch_kernels_optimized", "executorch_backend_xnnpack", "executorch_threadpool")
# What the wheel's own CMake package tells a consumer to compile with
# (executorch/lib/cmake/executorch/executorch-config.cmake).
DEFINES = ("C10_USING_CUSTOM_GENERATED_MACROS", "ET_EVENT_TRACER_ENABLED", "ET_USE_THREADPOOL")
FLAGS = ("-O2", "-std=c++17", "-fPIC", "-shared")
BUILD_TIMEOUT_S = 600
# c10::ScalarType codes of the dtypes a MossNet program can declare
SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 5: "float16", 6: "float32"}


class Unavailable(Exception):
    """Why the runner cannot be had here (no compiler, a failed build, ...): one line."""


class NativeError(RuntimeError):
    """The C++ runtime refused a program or a run (its error code and message)."""


# -- building ------------------------------------------------------------------------------------
def package_root() -> Path:
    spec = importlib.util.find_spec("executorch")  # a namespace package: found, not imported
    for root in (spec.submodule_search_locations or []) if spec else []:
        if (Path(root) / "lib" / "libexecutorch.so").is_file():
            return Path(root).resolve()
    raise Unavailable("the installed executorch has no C++ runtime (executorch/lib/libexecutorch.so)")


def compiler() -> str:
    """The C++ compiler: ``$CXX`` (only that, when set), else the first of g++, c++, clang++."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "c++", "clang++"]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise Unavailable(f"no C++ compiler ({', '.join(names)}) to build the ExecuTorch runner: install g++ "
                      "(apt install g++) or set CXX")


def installed_version(root: Path) -> str:
    """The executorch distribution's version, from its ``.dist-info`` folder's name beside the
    package: what ``importlib.metadata.version`` says, without importing it on every run
    (about 20 ms of a half-second command line)."""
    for info in root.parent.glob("executorch-*.dist-info"):
        return info.name[len("executorch-"):-len(".dist-info")]
    return "?"


def build_key(cxx: str, root: Path) -> str:
    """What the built library depends on: the source, the executorch build (version, where it
    is, its runtime library's size and time), the compiler (path, size, time) and the flags."""
    h = hashlib.sha256(SOURCE.read_bytes())
    runtime, real_cxx = root / "lib" / "libexecutorch.so", Path(cxx).resolve()
    for part in (installed_version(root), root, runtime.stat().st_size, runtime.stat().st_mtime_ns, real_cxx,
                 real_cxx.stat().st_size, real_cxx.stat().st_mtime_ns, FLAGS, DEFINES, LINKED, ABI_VERSION):
        h.update(f"\0{part}".encode())
    return h.hexdigest()[:20]


def runner_dir() -> Path:
    return cache_root() / "executorch-runner"


def command(cxx: str, root: Path, out: Path) -> list[str]:
    lib = root / "lib"
    return [cxx, *FLAGS, *(f"-D{d}" for d in DEFINES), f"-I{root / 'include'}",
            f"-I{root / 'include/executorch/runtime/core/portable_type/c10'}", str(SOURCE), "-o", str(out),
            f"-L{lib}", "-Wl,--no-as-needed", *(f"-l{name}" for name in LINKED), "-Wl,--as-needed",
            f"-Wl,-rpath,{lib}"]


def library(build: bool = True, force: bool = False, say=None) -> Path:
    """The built runner, building it first where needed (``build``), or ``Unavailable``. A failed
    build is remembered beside the cache (``<key>.failed``): later runs fall back at once
    instead of compiling again; ``force`` (``build-runner``) tries again."""
    if not sys.platform.startswith("linux"):
        raise Unavailable("the ExecuTorch runner is only built on Linux")
    root, cxx = package_root(), compiler()
    key = build_key(cxx, root)
    final, failed = runner_dir() / key, runner_dir() / f"{key}.failed"
    if (final / LIBRARY).is_file() and not force:
        return final / LIBRARY
    if failed.is_file() and not force:
        raise Unavailable(f"building the ExecuTorch runner failed before ({failed.read_text().strip()}); "
                          "python -m targets.executorch build-runner tries again")
    if not build:
        raise Unavailable("the ExecuTorch runner is not built")
    (say or (lambda msg: print(msg, file=sys.stderr, flush=True)))(
        f"building the ExecuTorch runner once ({Path(cxx).name}, a few seconds) into {final}")
    runner_dir().mkdir(parents=True, exist_ok=True)
    for stale in runner_dir().glob(f".{key}.*"):  # what a killed build left (none can still be running)
        if time.time() - stale.stat().st_mtime > BUILD_TIMEOUT_S:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=runner_dir()))
    try:
        try:
            proc = subprocess.run(command(cxx, root, tmp / LIBRARY), check=False, capture_output=True, text=True,
                                  errors="replace", timeout=BUILD_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            proc, why = None, str(exc)
        if proc is not None and proc.returncode == 0:
            failed.unlink(missing_ok=True)
            normal_permissions(tmp)  # mkdtemp's 0700 would hide it from other users of a shared cache
            if force and final.exists():
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.rename(tmp, final)  # atomic; another process may have got there first: keep its
            except OSError:
                if not (final / LIBRARY).is_file():
                    raise
            return final / LIBRARY
        if proc is not None:
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            why = next((ln for ln in lines if "error" in ln), lines[-1] if lines else f"exit {proc.returncode}")
        why = why[:300]
        try:
            failed.write_text(why + "\n")
        except OSError:
            pass
        raise Unavailable(f"building the ExecuTorch runner failed ({why})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- running ---------------------------------------------------------------------------------------
class Runner:
    """The loaded library with its C signatures declared."""

    def __init__(self, path: Path):
        lib = ctypes.CDLL(str(path))
        c = ctypes
        size_p, vp = c.POINTER(c.c_size_t), c.c_void_p
        for name, res, args in [
                ("mn_abi_version", c.c_int, []), ("mn_last_error", c.c_char_p, []),
                ("mn_set_threads", c.c_int, [c.c_uint32]), ("mn_thread_count", c.c_int, [size_p]),
                ("mn_has_operator", c.c_int, [c.c_char_p]), ("mn_backend_name", c.c_char_p, [c.c_size_t]),
                ("mn_open", c.c_int, [c.c_char_p, c.POINTER(vp)]), ("mn_close", None, [vp]),
                ("mn_num_methods", c.c_int, [vp, size_p]),
                ("mn_method_name", c.c_int, [vp, c.c_size_t, c.POINTER(c.c_char_p)]),
                ("mn_method_io", c.c_int, [vp, c.c_char_p, size_p, size_p]),
                ("mn_tensor_info", c.c_int, [vp, c.c_char_p, c.c_int, c.c_size_t, c.POINTER(c.c_int), size_p,
                                             c.POINTER(c.c_int64)]),
                ("mn_load", c.c_int, [vp, c.c_char_p, c.POINTER(vp)]), ("mn_free", None, [vp]),
                ("mn_run", c.c_int, [vp, c.POINTER(vp), size_p, c.c_size_t, c.POINTER(vp), size_p, c.c_size_t])]:
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = res, args
        if lib.mn_abi_version() != ABI_VERSION:
            raise Unavailable(f"{path}: an ExecuTorch runner of another version")
        self.lib, self.path = lib, path

    def check(self, rc: int, what: str) -> None:
        if rc:
            raise NativeError(f"{what}: {self.lib.mn_last_error().decode(errors='replace')}")

    def set_threads(self, threads: int) -> None:
        self.check(self.lib.mn_set_threads(threads), "thread pool")

    def thread_count(self) -> int:
        n = ctypes.c_size_t()
        self.check(self.lib.mn_thread_count(ctypes.byref(n)), "thread pool")
        return n.value

    def has_operator(self, name: str) -> bool:
        return bool(self.lib.mn_has_operator(name.encode()))

    def backends(self) -> list[str]:
        names = []
        while (name := self.lib.mn_backend_name(len(names))) is not None:
            names.append(name.decode())
        return names

    def open(self, path: str | Path) -> Program:
        return Program(self, Path(path))


class Program:
    """One ``.pte`` loaded with its flatbuffer verified (``Verification::InternalConsistency``)."""

    def __init__(self, runner: Runner, path: Path):
        handle = ctypes.c_void_p()
        runner.check(runner.lib.mn_open(os.fsencode(path), ctypes.byref(handle)), str(path))
        self.runner, self.handle, self.path = runner, handle, path
        self._close = _finalizer(self, runner.lib.mn_close, handle)

    def methods(self) -> list[str]:
        lib, n = self.runner.lib, ctypes.c_size_t()
        self.runner.check(lib.mn_num_methods(self.handle, ctypes.byref(n)), "methods")
        names = []
        for i in range(n.value):
            name = ctypes.c_char_p()
            self.runner.check(lib.mn_method_name(self.handle, i, ctypes.byref(name)), "methods")
            names.append(name.value.decode())
        return names

    def signature(self, method: str) -> dict:
        """{"inputs": [{"shape", "dtype"}], "outputs": [...]}: what the method declares."""
        lib, name = self.runner.lib, method.encode()
        n_in, n_out = ctypes.c_size_t(), ctypes.c_size_t()
        self.runner.check(lib.mn_method_io(self.handle, name, ctypes.byref(n_in), ctypes.byref(n_out)), method)

        def tensor(output: int, i: int) -> dict:
            dtype, ndim, sizes = ctypes.c_int(), ctypes.c_size_t(), (ctypes.c_int64 * 16)()
            self.runner.check(lib.mn_tensor_info(self.handle, name, output, i, ctypes.byref(dtype),
                                                 ctypes.byref(ndim), sizes), method)
            return {"shape": list(sizes[:ndim.value]), "dtype": SCALAR_TYPES.get(dtype.value, f"code {dtype.value}")}
        return {"inputs": [tensor(0, i) for i in range(n_in.value)],
                "outputs": [tensor(1, i) for i in range(n_out.value)]}

    def load(self, method: str) -> Method:
        return Method(self, method)


class Method:
    """A loaded method (its delegate compiled, its memory plan allocated): numpy in, numpy out."""

    def __init__(self, program: Program, name: str):
        sig = program.signature(name)
        for t in sig["inputs"] + sig["outputs"]:
            if t["dtype"] not in SCALAR_TYPES.values():
                raise NativeError(f"method {name}: a tensor of dtype {t['dtype']} is not supported")
        handle = ctypes.c_void_p()
        program.runner.check(program.runner.lib.mn_load(program.handle, name.encode(), ctypes.byref(handle)),
                             str(program.path))
        self.program, self.name, self.handle = program, name, handle  # the program outlives its methods
        self.inputs = [(tuple(t["shape"]), np.dtype(t["dtype"])) for t in sig["inputs"]]
        self.outputs = [(tuple(t["shape"]), np.dtype(t["dtype"])) for t in sig["outputs"]]
        self._last: list[np.ndarray] = []  # the previous call's outputs
        self._free = _finalizer(self, program.runner.lib.mn_free, handle)

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """Run on arrays of the declared shapes (cast and made contiguous only where they are
        not): the runtime copies them into its memory plan and the outputs out of it.

        An output array of the previous call that nothing else refers to any more (not even a
        view) is filled again instead of a new one: a tile loop allocates its output once
        instead of 786 KB a tile, whose freed blocks left holes in the C heap that grew the 8K
        job's peak (``mossnet.tools.e2e``'s memory rows). One a caller still holds is never
        written."""
        if len(arrays) != len(self.inputs):
            raise ValueError(f"{self.name}: {len(arrays)} inputs given, {len(self.inputs)} declared")
        ins = []
        for a, (shape, dtype) in zip(arrays, self.inputs):
            a = np.ascontiguousarray(a, dtype=dtype)
            if a.shape != shape:
                raise ValueError(f"{self.name}: an input of shape {a.shape}, declared {shape}")
            ins.append(a)
        outs = [self._output(i) for i in range(len(self.outputs))]
        n_in, n_out = len(ins), len(outs)
        self.program.runner.check(self.program.runner.lib.mn_run(
            self.handle, (ctypes.c_void_p * n_in)(*map(address, ins)),
            (ctypes.c_size_t * n_in)(*(a.nbytes for a in ins)), n_in,
            (ctypes.c_void_p * n_out)(*map(address, outs)),
            (ctypes.c_size_t * n_out)(*(o.nbytes for o in outs)), n_out), self.name)
        self._last = outs
        return list(outs)

    def _output(self, i: int) -> np.ndarray:
        """The previous call's i-th output if only ``self._last`` refers to it, else a new array."""
        if i < len(self._last) and sys.getrefcount(self._last[i]) == 2:  # the list's and the argument's
            return self._last[i]
        shape, dtype = self.outputs[i]
        return np.empty(shape, dtype)


def address(a: np.ndarray) -> int:
    """The address of an array's first byte. Not ``a.ctypes.data``: with numpy 2.4 on Python
    3.11 building the call's pointer arrays from it left a small tuple behind per call (about
    a tuple a tile, found with tracemalloc: small, but a leak)."""
    return a.__array_interface__["data"][0]


def _finalizer(owner, free, handle):
    """Free the C object with its Python owner; not at exit, where the process's end frees it
    (and the runtime's own static objects may already be gone)."""
    import weakref
    f = weakref.finalize(owner, free, handle)
    f.atexit = False
    return f


# -- choosing the engine -------------------------------------------------------------------------
_runner: Runner | None = None
_unavailable: str | None = None  # why not, said once per process


def engine_forced() -> str | None:
    """``$MOSSNET_EXECUTORCH_ENGINE``: "native", "bindings" or None (native where it can be had)."""
    value = os.environ.get(ENGINE_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in ("native", "bindings"):
        raise ExportError(f"{ENGINE_ENV}={value}: choose native or bindings")
    return value


def runner() -> Runner | None:
    """The native runner (built on first use), or None where programs run through the Python
    bindings: forced by ``$MOSSNET_EXECUTORCH_ENGINE=bindings``, or the runner cannot be had
    here (said once on stderr, with the fix). Forced native and not available: ``ExportError``."""
    global _runner, _unavailable
    forced = engine_forced()
    if forced == "bindings":
        return None
    if _runner is None and _unavailable is None:
        try:
            _runner = Runner(library())
        except (Unavailable, OSError) as exc:
            _unavailable = str(exc)
            if forced != "native":
                print(f"note: {_unavailable}; running ExecuTorch through its Python bindings instead, which "
                      f"import torch (about a second); {ENGINE_ENV}=bindings says so and silences this",
                      file=sys.stderr, flush=True)
    if _runner is None and forced == "native":
        raise ExportError(f"{ENGINE_ENV}=native: {_unavailable}")
    return _runner


def build_command(force: bool) -> int:
    """``python -m targets.executorch build-runner``: build (or find) the runner, load it and
    say what it registers."""
    start, built = time.perf_counter(), []
    try:
        path = library(force=force, say=lambda msg: (built.append(msg), print(msg, file=sys.stderr, flush=True)))
        r = Runner(path)
    except (Unavailable, OSError) as exc:
        raise ExportError(str(exc)) from None
    ops = ("aten::full.out", "aten::expand_copy.out", "aten::unsqueeze_copy.out")
    from ..runtime import native_stderr_filtered
    with native_stderr_filtered():
        missing = [op for op in ops if not r.has_operator(op)]
        backends = r.backends()
    print(f"{'built' if built else 'already built'}: {path} ({time.perf_counter() - start:.1f} s; "
          f"executorch {installed_version(package_root())}; "
          f"delegates: {', '.join(backends) or 'none'}; "
          + (f"missing kernels: {', '.join(missing)}" if missing else "kernels of every MossNet operator registered")
          + ")")
    if missing or "XnnpackBackend" not in backends:
        raise ExportError("the runner built, but it lacks what MossNet programs need (see above)")
    return 0
