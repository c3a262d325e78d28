"""Stage ``sweep``: the patch size (LR core of a tile) against halo overhead and per-call cost,
for float PyTorch (any patch, at load) and the headline build (one artifact per patch, built by
the ``build`` stage into ``ROOT/patch<P>/``). Each patch in a fresh process with the chosen
threads: per-call ms and the headline job (median of a few runs after a warm-up)."""
from __future__ import annotations

from ..methods import HEADLINE, REFERENCE, Method
from ..rss import ChildError, run_child
from . import Settings, child_argv, chosen_threads


def keys(s: Settings, methods: dict[str, Method]) -> list[str]:
    """The swept methods: the float reference and the headline build (not exported ones in --quick)."""
    return [k for k in (REFERENCE, HEADLINE) if k in methods and methods[k].timed
            and s.patches and not (s.quick and methods[k].exported)]


def run(s: Settings, methods: dict[str, Method], threads: dict, log) -> tuple[dict, list[str]]:
    """({key: [{patch, halo, input, tiles, overhead, call_ms, us_per_output_px, job_s}]}, notes)."""
    (w, h), out, notes = s.headline_lr, {}, []
    for key in keys(s, methods):
        m, rows = methods[key], []
        n = chosen_threads(threads, m)
        for patch in s.patches:
            log(f"patch sweep: {key} patch {patch}")
            try:
                r = run_child(child_argv(s, m, n, patch=patch, lr=(w, h), mode="ram", calls=s.calls,
                                         repeat=max(1, s.runs // 2 + 1), warmup=1))
            except ChildError as exc:
                notes.append(f"patch sweep {key} patch {patch}: failed ({exc})")
                continue
            t = r["tiling"]
            rows.append({"patch": t["patch"], "halo": t["halo"], "input": t["input_size"], "tiles": r["tiles"],
                         "overhead": r["tiles"] * t["input_size"] ** 2 / (w * h), "call_ms": r["call_ms"],
                         "us_per_output_px": 1e3 * r["call_ms"] / t["output_size"] ** 2, "job_s": r["seconds"]})
        out[key] = rows
    return out, notes
