"""Stage ``latency``: the headline job (960x540 -> 3840x2160) of every timed method, in a fresh
process with its runtime's chosen thread count: median of ``runs`` runs after one warm-up run
(output held in RAM, as ``upscale_tiled`` returns it), the process CPU time beside it, tiles,
ms per tile (job / tiles: tiling, thumbnail and stitching included) and the median of
``calls`` single ``upscale_patch`` calls."""
from __future__ import annotations

from ..inputs import output_megapixels
from ..methods import REFERENCE, Method
from ..rss import ChildError, run_child
from . import Settings, child_argv, chosen_threads


def run(s: Settings, methods: dict[str, Method], threads: dict, log) -> tuple[dict, list[str]]:
    """({key: {median_s, min_s, runs_s, cpu_median_s, mp_per_s, threads, [tiles, ms_per_tile,
    call_ms], speedup_vs_float}}, notes)."""
    lr, out, notes = s.headline_lr, {}, []
    for key, m in methods.items():
        if not m.timed:
            continue
        n = chosen_threads(threads, m)
        log(f"latency: {key} {s.headline} x{s.runs} ({n or 'default'} thread(s), fresh process)")
        try:
            r = run_child(child_argv(s, m, n, lr=lr, mode="ram", calls=s.calls if m.tiled else 0,
                                     repeat=s.runs, warmup=1))
        except ChildError as exc:
            notes.append(f"latency {key}: failed ({exc})")
            continue
        row = {"median_s": r["seconds"], "min_s": min(r["runs_s"]), "runs_s": r["runs_s"],
               "cpu_median_s": r["cpu_s"], "mp_per_s": output_megapixels(lr) / r["seconds"],
               "threads": n, "threads_how": r["threads"]}
        if m.tiled:
            row.update(tiles=r["tiles"], ms_per_tile=1e3 * r["seconds"] / r["tiles"], call_ms=r.get("call_ms"))
        out[key] = row
    ref = out.get(REFERENCE)
    for row in out.values():
        if ref:
            row["speedup_vs_float"] = ref["median_s"] / row["median_s"]
    return out, notes
