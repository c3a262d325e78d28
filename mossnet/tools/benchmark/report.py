"""bench.json and bench.md: the same results as JSON and as Markdown tables, written atomically."""
from __future__ import annotations

import json
import math
from pathlib import Path

from mossnet.image_io import atomic_write

from .machine import summary_line

MB = 1e6  # memory and sizes in 10^6 / 10^3 bytes, as the targets are stated


def _f(x, fmt: str = ".2f", none: str = "n/a") -> str:
    return none if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def speed_table(results: dict) -> list[str]:
    h = results["settings"]["headline"]
    lines = [f"| method | size on disk (KB) | parameters | GFLOPs @256² | threads | {h} job, median (s) | "
             f"ms / tile in job | ms / call | output MP/s | × float eager | peak RSS {h} (MB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, m in results["methods"].items():
        lat, mem = m.get("latency") or {}, (m.get("memory", {}).get("stream") or m.get("memory", {}).get("ram") or {})
        peak = (mem.get(h) or {}).get("peak_mb")
        if not (lat or m.get("bytes") or m.get("parameters")):
            continue  # quality-only rows (the protocol's bicubic)
        lines.append(
            f"| {m['label']} | {_f(m.get('bytes') and m['bytes'] / 1e3, '.1f', '–')} | "
            f"{_f(m.get('parameters'), ',', '–')} | {_f(m.get('gflops_256'), '.2f', '–')} | "
            f"{m.get('threads', {}).get('chosen', '–')} | {_f(lat.get('median_s'), '.3f')} | "
            f"{_f(lat.get('ms_per_tile'), '.1f', '–')} | {_f(lat.get('call_ms'), '.1f', '–')} | "
            f"{_f(lat.get('mp_per_s'), '.2f')} | {_f(lat.get('speedup_vs_float'), '.2f', '–')} | {_f(peak, '.0f', '–')} |")
    return lines


def summary_table(results: dict) -> list[str]:
    """The compact table the README quotes: one row per build, the headline job."""
    h, sets = results["settings"]["headline"], results["settings"].get("sets", [])
    lines = [f"| build | size (KB) | {h} job (s) | × float eager | peak RSS {h} (MB) | "
             + " / ".join(sets) + (" Y-PSNR (dB) |" if sets else " |"), "|---|---:|---:|---:|---:|---:|"]
    for m in results["methods"].values():
        lat, q = m.get("latency") or {}, m.get("quality") or {}
        mem = m.get("memory", {}).get("stream") or m.get("memory", {}).get("ram") or {}
        if not (lat or q):
            continue
        psnr = " / ".join(f"{q[s]['psnr']:.2f}" for s in sets if s in q) or "–"
        lines.append(f"| {m['label']} | {_f(m.get('bytes') and m['bytes'] / 1e3, '.0f', '–')} | "
                     f"{_f(lat.get('median_s'), '.3f')} | {_f(lat.get('speedup_vs_float'), '.2f', '–')} | "
                     f"{_f((mem.get(h) or {}).get('peak_mb'), '.0f', '–')} | {psnr} |")
    return lines


def memory_table(results: dict) -> list[str]:
    sizes = list(results["settings"]["sizes"])
    lines = ["| method | output | RSS after imports (MB) | RSS after load + warm-up (MB) | "
             + " | ".join(f"peak {s} (MB)" for s in sizes) + f" | growth {sizes[1] if len(sizes) > 2 else sizes[0]}→{sizes[-1]} |",
             "|---|---|---:|---:|" + "---:|" * len(sizes) + "---:|"]
    for key, m in results["methods"].items():
        for mode, runs in m.get("memory", {}).items():
            if not runs:
                continue
            first = next(iter(runs.values()))
            out = {"stream": "tiled, streamed to file", "ram": "tiled, in RAM"}[mode] if m["tiled"] else "whole image, in RAM"
            growth = m.get("memory_growth", {}).get(mode)
            lines.append(f"| {m['label']} | {out} | {first['rss_imported_kib'] * 1024 / MB:.0f} | "
                         f"{first['rss_baseline_kib'] * 1024 / MB:.0f} | "
                         + " | ".join(_f((runs.get(s) or {}).get("peak_mb"), '.0f', '–') for s in sizes)
                         + f" | {_f(growth and 100 * growth, '+.1f', '–')}{'' if growth is None else ' %'} |")
    return lines


def quality_table(results: dict) -> list[str]:
    sets = results["settings"].get("sets", [])
    if not sets:
        return ["(quality skipped)"]
    lines = ["| method | " + " | ".join(f"{s} Y-PSNR / SSIM" for s in sets) + " | vs float eager (RGB PSNR, dB) |",
             "|---|" + "---:|" * (len(sets) + 1)]
    for key, m in results["methods"].items():
        q = m.get("quality")
        if not q:
            continue
        parity = [q[s].get("psnr_vs_reference") for s in sets if s in q]
        parity = [p for p in parity if p is not None]
        lines.append(f"| {m['label']} | " + " | ".join(f"{q[s]['psnr']:.2f} / {q[s]['ssim']:.4f}" for s in sets)
                     + f" | {_f(min(parity) if parity else None, '.1f', '–')} |")
    return lines


def sweep_table(results: dict) -> list[str]:
    rows = results.get("patch_sweep") or {}
    h = results["settings"]["headline"]
    lines = [f"| method | patch (LR core) | tile input | tiles for {h} | pixels computed / output | ms / call | "
             f"µs / output pixel (call) | {h} job (s) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, sweep in rows.items():
        for r in sweep:
            lines.append(f"| {results['methods'][key]['label']} | {r['patch']} | {r['input']} | {r['tiles']} | "
                         f"{r['overhead']:.2f} | {_f(r.get('call_ms'), '.1f')} | "
                         f"{_f(r.get('us_per_output_px'), '.3f')} | {_f(r.get('job_s'), '.3f')} |")
    return lines


def threads_table(results: dict) -> list[str]:
    counts = sorted({str(n) for m in results["methods"].values() for n in m.get("threads", {}).get("ms", {})},
                    key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0))
    if not counts:
        return []
    head = [f"{n} thread{'s' * (n != '1')}" if n.isdigit() else "runtime defaults" for n in counts]
    lines = ["| method | " + " | ".join(f"{h} (ms)" for h in head) + " | chosen |",
             "|---|" + "---:|" * (len(counts) + 1)]
    for m in results["methods"].values():
        ms = m.get("threads", {}).get("ms")
        if ms:
            ms = {str(k): v for k, v in ms.items()}
            lines.append(f"| {m['label']} | " + " | ".join(_f(ms.get(n), '.1f', '–') for n in counts)
                         + f" | {m['threads']['chosen']} |")
    return lines


def before_after_table(results: dict) -> list[str]:
    b = results.get("before_after")
    if not b or "profile_after" not in b:
        return ["(not measured)"]
    h = results["settings"]["headline"]
    pb, pa = b["profile_before"], b["profile_after"]
    rows = [("upscale_patch call, wall time seen from Python (ms)", pb["wall_ms"], pa["wall_ms"], ".2f"),
            ("of which inside Method::execute (ETDump, ms)", pb["execute_ms"], pa["execute_ms"], ".2f"),
            (f"{h} job, median of {results['settings']['runs']} (s)", b.get("job_before_s"), b.get("job_after_s"), ".3f"),
            ("RSS after imports (MB)", b.get("rss_imported_before_mb"), b.get("rss_imported_after_mb"), ".0f"),
            (f"peak RSS, {h} job (MB)", b.get("peak_before_mb"), b.get("peak_after_mb"), ".0f")]
    lines = [f"Before: {b['before']}. After: {b['after']}. Both sides measured in this run, in fresh processes.", "",
             "| ExecuTorch int8 | before | after | after / before |", "|---|---:|---:|---:|"]
    for name, x, y, fmt in rows:
        ratio = f"{y / x:.2f}" if x and y else "–"
        lines.append(f"| {name} | {_f(x, fmt)} | {_f(y, fmt)} | {ratio} |")
    lines += ["", f"Per-operator time inside `upscale_patch` after the change (ExecuTorch devtools ETDump, median of "
              f"each operator over the profiled calls, summed per kind; Method::execute {pa['execute_ms']:.2f} ms):", "",
              "| operator (XNNPACK unless marked) | instances | ms | share of execute |", "|---|---:|---:|---:|"]
    for op in pa["ops"]:
        if op["ms"] >= 0.005:
            name = op["op"] + ("" if op["delegated"] else " (portable kernel, outside XNNPACK)")
            lines.append(f"| {name} | {op['count']} | {op['ms']:.3f} | {_f(op['share'] and 100 * op['share'], '.1f')} % |")
    return lines


def targets_table(results: dict) -> list[str]:
    lines = ["| target | required | measured | met | margin |", "|---|---|---|---|---|"]
    for t in results.get("targets", []):
        lines.append(f"| {t['target']} | {t['required']} | {t['measured']} | "
                     f"{'yes' if t['met'] else ('n/a' if t['met'] is None else '**no**')} | {t['margin']} |")
    return lines


def markdown(results: dict) -> str:
    s = results["settings"]
    parts = ["# MossNet benchmark", "",
             f"Command: `{results['command']}`  ",
             f"Machine: {summary_line(results['machine'])}.  ",
             f"Checkpoint: `{results['checkpoint']['path']}` (SHA-256 {results['checkpoint']['sha256'][:12]}…); "
             f"tiling {s['patch']} LR core + {s['halo']} halo; {s['headline']} job = "
             f"{s['sizes'][s['headline']][0]}x{s['sizes'][s['headline']][1]} -> x4, median of {s['runs']} runs "
             f"after 1 warm-up; wall time of this run {_f(results.get('wall_s'), '.0f')} s.", "",
             "## Summary", *summary_table(results), "",
             "## Targets", *targets_table(results), "",
             "## Speed and size", *speed_table(results), "",
             "FLOPs: torch `FlopCounterMode` at 256x256 LR (`mossnet.info.count_flops`), 2 FLOPs per "
             "multiply-add, convolutions only. ms / tile = job time / tiles (includes tiling, thumbnail, "
             "stitching); ms / call = median of one `upscale_patch` call. Size: the artifact (from its "
             "manifest), or the float checkpoint file for PyTorch.", "",
             "## ExecuTorch int8: before and after the fixes, and where the time goes", *before_after_table(results), "",
             "## Thread count (per-call latency; the fastest is used)", *threads_table(results), "",
             "ExecuTorch: each count in a fresh process (its pool cannot be resized after first use), with "
             "torch's intra-op pool at 1 thread; \"runtime defaults\" leaves both pools as they start. Whole-image "
             "methods: ms per 160x90 LR image. LiteRT runs 1 thread (the runner sets none).", "",
             "## Peak memory (each job in a fresh process)", *memory_table(results), "",
             "Peak = the process's VmHWM while the job ran (reset after load + warm-up; includes the "
             "baseline). Latency per size (latency.png) is the single timed run of the same child.", "",
             "## Patch-size sweep (halo overhead vs per-call cost)", *sweep_table(results), "",
             "## Quality (x4, Y channel, 4 px shaved, MATLAB-bicubic LR)", *quality_table(results), ""]
    for note in results.get("notes", []):
        parts.append(f"- {note}")
    return "\n".join(parts).rstrip() + "\n"


def write(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "bench.json", lambda tmp: Path(tmp).write_text(json.dumps(results, indent=1, default=str) + "\n"))
    atomic_write(out / "bench.md", lambda tmp: Path(tmp).write_text(markdown(results)))
