"""Stage ``memory``: peak resident memory of one job per fresh process, for every output size
(256x256 to 8K), with the runtime's chosen threads. Tiled methods stream their output to a file
(``stream.PPMStripWriter``), so they hold one strip of it; the headline build is also measured
with the output held in RAM, and whole-image methods can only hold it in RAM. The reported peak
is the process's lifetime peak (load may peak higher than the job). The same child's single
timed run gives latency against image size (latency.png)."""
from __future__ import annotations

from ..methods import HEADLINE, Method
from ..rss import ChildError, run_child
from . import Settings, child_argv, chosen_threads

KIB = 1024 / 1e6  # KiB -> MB (10^6 bytes)


def modes(key: str, m: Method) -> list[str]:
    return ["stream", "ram"] if key == HEADLINE else (["stream"] if m.tiled else ["ram"])


def growth(runs: dict, sizes: list[str]) -> float | None:
    """Peak growth from the first to the last size above 256x256 (1080p -> 8K)."""
    flat = [s for s in sizes if s != "256x256"]
    if len(flat) >= 2 and flat[0] in runs and flat[-1] in runs:
        return runs[flat[-1]]["peak_mb"] / runs[flat[0]]["peak_mb"] - 1
    return None


def run(s: Settings, methods: dict[str, Method], threads: dict, log) -> tuple[dict, list[str]]:
    """({key: {mode: {size: child report + peak_mb, peak_job_mb}, "growth": {mode: fraction}}}, notes)."""
    out, notes = {}, []
    for key, m in methods.items():
        if not m.timed:
            continue
        n, row = chosen_threads(threads, m), {"growth": {}}
        for mode in modes(key, m):
            runs = {}
            for size, lr in s.sizes.items():
                log(f"memory: {key} {mode} {size}")
                try:
                    r = run_child(child_argv(s, m, n, lr=lr, mode=mode))
                except ChildError as exc:
                    notes.append(f"memory {key} {mode} {size}: failed ({exc})")
                    continue
                r["peak_mb"] = max(r["peak_load_kib"], r["peak_job_kib"] or 0) * KIB
                r["peak_job_mb"] = (r["peak_job_kib"] or r["peak_load_kib"]) * KIB
                runs[size] = r
            row[mode] = runs
            row["growth"][mode] = growth(runs, list(s.sizes))
        out[key] = row
    return out, notes
