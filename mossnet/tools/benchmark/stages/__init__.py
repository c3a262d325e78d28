"""The benchmark's stages. Each is a function ``run(settings, methods, ...) -> dict`` that
returns its own part of ``bench.json`` and mutates nothing it is given:

- ``build``:   artifacts through ``targets.store.ArtifactStore.ensure`` (in a child process), size,
               parameters, FLOPs
- ``threads``: per runtime, per-call latency at 1..CPUs threads, each in a fresh process; the fastest
               is the one thread policy every later stage applies (``Runtime.set_threads``)
- ``latency``: the headline job (960x540 -> 4K), per tile and per call, one fresh process per method
- ``sweep``:   the patch-size sweep (float PyTorch and the headline build)
- ``memory``:  peak RSS of one job per fresh process, 256x256 to 8K output
- ``profile``: ExecuTorch per-operator time (ETDump), runtime defaults vs the chosen threads
- ``quality``: Y-PSNR / SSIM through each real runtime, and the crops of the image grid

Every measurement of speed or memory runs in a fresh process (``child``), with the thread count
the ``threads`` stage chose applied before the model is loaded, so every runtime is treated
alike (ExecuTorch's XNNPACK pool can only be sized before its first program runs)."""
from __future__ import annotations

from dataclasses import dataclass

from ..methods import Method


@dataclass(frozen=True)
class Settings:
    ckpt: str
    root: str  # artifact store root
    sizes: dict  # name -> LR (w, h)
    headline: str  # a key of sizes
    runs: int  # timed runs of the headline job
    calls: int  # timed upscale_patch calls
    quick: bool = False
    threads: int | None = None  # --threads: every runtime at this count, no sweep
    patches: tuple[int, ...] = ()
    set_dirs: tuple[str, ...] = ()
    eval_dirs: tuple[str, ...] = ()
    cpus: int = 1

    @property
    def headline_lr(self) -> tuple[int, int]:
        return tuple(self.sizes[self.headline])


def child_argv(s: Settings, m: Method, threads: int | None, *, patch: int | None = None, lr=None,
               mode: str | None = None, calls: int = 0, repeat: int = 1, warmup: int = 0,
               job: bool = True) -> list[str]:
    """Arguments of ``python -m mossnet.tools.benchmark.child`` for one measurement."""
    argv = ["--method", m.key, "--ckpt", s.ckpt, "--artifacts", s.root]
    if threads:
        argv += ["--threads", str(threads)]
    if patch:
        argv += ["--patch", str(patch)]
    if lr:
        argv += ["--lr", str(lr[0]), str(lr[1])]
    if mode:
        argv += ["--mode", mode]
    if calls:
        argv += ["--calls", str(calls)]
    if not job:
        argv.append("--no-job")
    return argv + ["--repeat", str(repeat), "--warmup", str(warmup)]


def chosen_threads(threads: dict, m: Method) -> int | None:
    """The thread count the ``threads`` stage chose for the method's runtime (None: not swept)."""
    rt = m.threads_by
    return (threads.get(rt.name) or {}).get("chosen") if rt is not None else None
