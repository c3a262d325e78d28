"""Latency: whole jobs (median of several runs after a warm-up run) and single program calls
(``targets.__main__.patch_latency_ms``, the same measurement as ``python -m targets export-all``)."""
from __future__ import annotations

import time
from typing import Callable

import numpy as np


def time_job(job: Callable[[], object], runs: int, warmup: int = 1) -> dict:
    for _ in range(warmup):
        job()
    times, cpu = [], []
    for _ in range(runs):
        start, c0 = time.perf_counter(), time.process_time()
        job()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - c0)
    # CPU time of this process (all its threads): on a shared machine, a single-threaded run's CPU
    # time is close to what the wall time would be on an idle one.
    return {"median_s": float(np.median(times)), "min_s": float(min(times)), "runs_s": times,
            "cpu_median_s": float(np.median(cpu))}


def call_ms(loaded, runs: int = 20) -> float:
    """Median latency (ms) of one ``upscale_patch`` call of a tiled method."""
    from targets.__main__ import patch_latency_ms
    from targets.manifest import program_signatures
    manifest = loaded.manifest or {"programs": program_signatures(
        loaded.tiling, int(np.prod(loaded.programs[0](
            np.zeros((1, 3, loaded.tiling.thumb, loaded.tiling.thumb), np.float32)).shape)))}
    return patch_latency_ms(loaded.programs, manifest, runs=runs)


def best_threads(loaded, candidates: list[int], runs: int = 15) -> tuple[int, dict[int, float]]:
    """Per-call latency at each thread count; the fastest wins (on a shared machine an
    oversubscribed thread pool can be many times slower than one thread)."""
    from .methods import set_threads
    ms = {}
    for n in candidates:
        set_threads(loaded.spec.runtime, n)
        ms[n] = call_ms(loaded, runs) if loaded.spec.tiled else \
            1e3 * time_job(lambda: loaded.upscale(_small()), runs=max(3, runs // 3))["median_s"]
    best = min(ms, key=ms.get)
    set_threads(loaded.spec.runtime, best)
    return best, ms


def _small() -> np.ndarray:
    from .inputs import test_image
    return test_image(160, 90)
