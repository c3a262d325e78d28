"""The benchmark's Markdown tables, each a pure function of the results (``bench.json``)."""
from __future__ import annotations

import math

from .methods import REFERENCE

MB = 1e6  # memory and sizes in 10^6 / 10^3 bytes, as the targets are stated
KIB_MB = 1024 / MB


def _f(x, fmt: str = ".2f", none: str = "n/a") -> str:
    return none if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _label(results: dict, key: str) -> str:
    return results["methods"][key]["label"]


def _peak(results: dict, key: str, size: str) -> float | None:
    mem = results.get("memory", {}).get(key, {})
    runs = mem.get("stream") or mem.get("ram") or {}
    return (runs.get(size) or {}).get("peak_mb")


def summary_table(results: dict) -> list[str]:
    """One row per method: size, the headline job, speed-up, peak RSS, Y-PSNR per set."""
    h, sets = results["settings"]["headline"], results["settings"].get("sets", [])
    lines = [f"| build | size (KB) | {h} job (s) | × float eager | peak RSS {h} (MB) | "
             + (" / ".join(sets) + " Y-PSNR (dB)" if sets else "Y-PSNR") + " |", "|---|---:|---:|---:|---:|---:|"]
    for key, m in results["methods"].items():
        lat, q = results.get("latency", {}).get(key, {}), results.get("quality", {}).get(key, {})
        if not (lat or q):
            continue
        psnr = " / ".join(f"{q[s]['psnr']:.2f}" for s in sets if s in q) or "–"
        lines.append(f"| {m['label']} | {_f(m.get('bytes') and m['bytes'] / 1e3, '.0f', '–')} | "
                     f"{_f(lat.get('median_s'), '.3f')} | {_f(lat.get('speedup_vs_float'), '.2f', '–')} | "
                     f"{_f(_peak(results, key, h), '.0f', '–')} | {psnr} |")
    return lines


def speed_table(results: dict) -> list[str]:
    h = results["settings"]["headline"]
    lines = [f"| method | size on disk (KB) | parameters | GFLOPs @256² | threads | {h} job, median (s) | "
             f"CPU time (s) | ms / tile in job | ms / call | output MP/s | × float eager |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, m in results["methods"].items():
        lat = results.get("latency", {}).get(key, {})
        if not (lat or m.get("bytes") or m.get("parameters")):
            continue  # quality-only rows (the protocol's bicubic)
        lines.append(
            f"| {m['label']} | {_f(m.get('bytes') and m['bytes'] / 1e3, '.1f', '–')} | "
            f"{_f(m.get('parameters'), ',', '–')} | {_f(m.get('gflops_256'), '.2f', '–')} | "
            f"{_f(lat.get('threads'), 'd', '–')} | {_f(lat.get('median_s'), '.3f')} | "
            f"{_f(lat.get('cpu_median_s'), '.3f', '–')} | {_f(lat.get('ms_per_tile'), '.1f', '–')} | "
            f"{_f(lat.get('call_ms'), '.1f', '–')} | {_f(lat.get('mp_per_s'), '.2f')} | "
            f"{_f(lat.get('speedup_vs_float'), '.2f', '–')} |")
    return lines


def threads_table(results: dict) -> list[str]:
    th = {rt: t for rt, t in results.get("threads", {}).items() if t.get("ms")}
    if not th:
        forced = {rt: t["chosen"] for rt, t in results.get("threads", {}).items()}
        return [f"Not swept: every runtime at --threads ({forced})." if forced else "(not measured)"]
    counts = sorted({int(n) for t in th.values() for n in t["ms"]})
    lines = ["| runtime | measured with | unit | " + " | ".join(f"{n} thread{'s' * (n != 1)}" for n in counts)
             + " | chosen | applies to |", "|---|---|---|" + "---:|" * (len(counts) + 1) + "---|"]
    for rt, t in th.items():
        ms = {int(k): v for k, v in t["ms"].items()}
        lines.append(f"| {rt} | {_label(results, t['measured_with'])} | {t['unit']} | "
                     + " | ".join(_f(ms.get(n), '.2f', '–') for n in counts)
                     + f" | {t['chosen']} | {', '.join(t['applies_to'])} |")
    return lines


def memory_table(results: dict) -> list[str]:
    sizes = list(results["settings"]["sizes"])
    flat = [s for s in sizes if s != "256x256"]
    if not results.get("memory"):
        return ["(memory not measured in this run)"]
    lines = ["| method | output | RSS after imports (MB) | RSS after load + warm-up (MB) | "
             + " | ".join(f"peak {s} (MB)" for s in sizes) + f" | growth {flat[0]}→{flat[-1]} |",
             "|---|---|---:|---:|" + "---:|" * len(sizes) + "---:|"]
    for key, mem in results.get("memory", {}).items():
        tiled = results["methods"][key]["tiled"]
        for mode in ("stream", "ram"):
            runs = mem.get(mode)
            if not runs:
                continue
            first = next(iter(runs.values()))
            out = {"stream": "tiled, streamed to file", "ram": "tiled, in RAM"}[mode] if tiled else "whole image, in RAM"
            growth = mem.get("growth", {}).get(mode)
            lines.append(f"| {_label(results, key)} | {out} | {first['rss_imported_kib'] * KIB_MB:.0f} | "
                         f"{first['rss_baseline_kib'] * KIB_MB:.0f} | "
                         + " | ".join(_f((runs.get(s) or {}).get("peak_mb"), '.0f', '–') for s in sizes)
                         + f" | {_f(growth and 100 * growth, '+.1f', '–')}{'' if growth is None else ' %'} |")
    return lines


def quality_table(results: dict) -> list[str]:
    sets = results["settings"].get("sets", [])
    if not results.get("quality"):
        return ["(quality not measured in this run)"]
    lines = ["| method | " + " | ".join(f"{s} Y-PSNR / SSIM" for s in sets)
             + " | vs float eager, 8-bit outputs (RGB PSNR, dB) | export parity, float outputs (dB, manifest) |",
             "|---|" + "---:|" * (len(sets) + 2)]
    for key, q in results["quality"].items():
        parity = [q[s].get("psnr_vs_reference") for s in sets if s in q]
        parity = [p for p in parity if p is not None]
        export = results["methods"][key].get("parity") or {}
        lines.append(f"| {_label(results, key)} | " + " | ".join(f"{q[s]['psnr']:.2f} / {q[s]['ssim']:.4f}" for s in sets)
                     + f" | {_f(min(parity) if parity else None, '.1f', '–')} | "
                     + (f"{export['output_psnr_db']:.1f} vs {export.get('reference', '?')}" if export else "–") + " |")
    return lines


def sweep_table(results: dict) -> list[str]:
    rows, h = results.get("patch_sweep") or {}, results["settings"]["headline"]
    if not any(rows.values()):
        return ["(patch sweep not measured in this run)"]
    lines = [f"| method | patch (LR core) | tile input | tiles for {h} | pixels computed / output | ms / call | "
             f"µs / output pixel (call) | {h} job (s) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, sweep in rows.items():
        for r in sweep:
            lines.append(f"| {_label(results, key)} | {r['patch']} | {r['input']} | {r['tiles']} | "
                         f"{r['overhead']:.2f} | {_f(r.get('call_ms'), '.2f')} | "
                         f"{_f(r.get('us_per_output_px'), '.3f')} | {_f(r.get('job_s'), '.3f')} |")
    return lines


def profile_table(results: dict) -> list[str]:
    b, h = results.get("profile") or {}, results["settings"]["headline"]
    if "profile_chosen" not in b:
        return ["(not measured in this run)"]
    pd, pc = b["profile_defaults"], b["profile_chosen"]
    after = results.get("latency", {}).get(b["method"], {}).get("median_s")
    rows = [("upscale_patch call, wall time seen from Python (ms)", pd["wall_ms"], pc["wall_ms"], ".2f"),
            ("of which inside Method::execute (ETDump, ms)", pd["execute_ms"], pc["execute_ms"], ".2f"),
            (f"{h} job, median of {results['settings']['runs']} (s)", b.get("job_defaults_s"), after, ".3f")]
    lines = [f"| {_label(results, b['method'])} | runtime defaults | {b['chosen_threads']} thread(s) (chosen) "
             "| chosen / defaults |", "|---|---:|---:|---:|"]
    for name, x, y, fmt in rows:
        lines.append(f"| {name} | {_f(x, fmt)} | {_f(y, fmt)} | {f'{y / x:.2f}' if x and y else '–'} |")
    lines += ["", f"RSS after imports: {_f(b.get('rss_imported_lean_mb'), '.0f')} MB with the runtime extension "
              f"only, {_f(b.get('rss_imported_executorch_runtime_mb'), '.0f')} MB when `executorch.runtime` is "
              "imported too.", "", "| operator (XNNPACK unless marked) | instances | ms | share of execute |",
              "|---|---:|---:|---:|"]
    for op in pc["ops"]:
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


def reference_label(results: dict) -> str:
    return results["methods"].get(REFERENCE, {}).get("label", REFERENCE)
