"""The issue's targets for the headline build (ExecuTorch int8, XNNPACK), checked against one
run's results; a missed target says by how much."""
from __future__ import annotations

from .methods import HEADLINE, REFERENCE, WHOLE

MAX_JOB_S = 1.0  # 960x540 -> 4K
MIN_SPEEDUP = 2.0  # against float eager PyTorch on the same tiles
MAX_PEAK_MB = 300.0  # 4K job, process peak RSS
MAX_GROWTH = 0.10  # peak RSS from 1080p to 8K output
MAX_BYTES = 120_000  # int8 artifact (120 KB; 120 KiB = 122,880 B is looser)


def _row(target, required, measured, met, margin):
    return {"target": target, "required": required, "measured": measured, "met": met, "margin": margin}


def speed_rows(results: dict, h: str) -> list[dict]:
    lat = results.get("latency", {}).get(HEADLINE)
    if not lat:
        return []
    t = lat["median_s"]
    out = [_row(f"{h} job, median wall time", f"<= {MAX_JOB_S:.1f} s",
                f"{t:.3f} s (CPU time {lat['cpu_median_s']:.3f} s)", t <= MAX_JOB_S, f"{(t / MAX_JOB_S - 1) * 100:+.0f} %")]
    ref = results.get("latency", {}).get(REFERENCE)
    if ref:
        sp = ref["median_s"] / t
        out.append(_row(f"speed-up vs float eager PyTorch, same tiles ({h} job)", f">= {MIN_SPEEDUP:.1f}x",
                        f"{sp:.2f}x ({ref['median_s']:.3f} s / {t:.3f} s)", sp >= MIN_SPEEDUP,
                        f"{(sp / MIN_SPEEDUP - 1) * 100:+.0f} %"))
    return out


def memory_rows(results: dict, h: str) -> list[dict]:
    mem, out = results.get("memory", {}), []
    stream = mem.get(HEADLINE, {}).get("stream", {})
    if h in stream:
        peak = stream[h]["peak_mb"]
        whole = mem.get(REFERENCE + WHOLE, {}).get("ram", {}).get(h)
        beside = f" (whole-image float: {whole['peak_mb']:.0f} MB)" if whole else ""
        out.append(_row(f"peak RSS, {h} job (tiled, streamed output)", f"<= {MAX_PEAK_MB:.0f} MB",
                        f"{peak:.0f} MB{beside}", peak <= MAX_PEAK_MB, f"{(peak / MAX_PEAK_MB - 1) * 100:+.0f} %"))
    growth = mem.get(HEADLINE, {}).get("growth", {}).get("stream")
    if growth is not None:
        sizes = [s for s in results["settings"]["sizes"] if s != "256x256"]
        out.append(_row(f"peak RSS growth {sizes[0]} -> {sizes[-1]} output", f"<= {MAX_GROWTH * 100:.0f} %",
                        f"{growth * 100:+.1f} %", growth <= MAX_GROWTH, f"{(growth - MAX_GROWTH) * 100:+.1f} points"))
    return out


def evaluate_targets(results: dict) -> list[dict]:
    m = results["methods"].get(HEADLINE)
    if m is None:
        return [_row("ExecuTorch int8", "measured", "not built", None, "–")]
    h = results["settings"]["headline"]
    out = speed_rows(results, h) + memory_rows(results, h)
    if m.get("bytes"):
        b = m["bytes"]
        out.append(_row("int8 artifact size", f"<= {MAX_BYTES / 1e3:.0f} KB", f"{b / 1e3:.1f} KB ({b:,} B)",
                        b <= MAX_BYTES, f"{(b / MAX_BYTES - 1) * 100:+.0f} %"))
    return out
