"""End to end, as users run it: ``python -m mossnet.tools.e2e``.

Every upscale command line runs the way a user runs it: a fresh ``python -m ...`` process, a
PNG photo in, a PNG out, nothing warm but the OS file cache. Measured per command: wall time
from spawn to exit, and the process's own peak memory (``benchmark/peak.py``). The float
``mossnet.upscale`` is the baseline, run in the same rounds: rounds alternate the commands, so
a change of load hits all of them alike. Also: start-up and import time per runtime, the tile
time of the 4K job inside one process (what the runtime itself costs) with the int8 operations
per second it reaches, peak memory from 1080p to 8K output, and a folder of mixed photos in
one call (images/s). Threads: every command's default (``targets.threads``), as a user gets it;
the tiles alone at each count.

The photo is scikit-learn's ``china.jpg`` (``examples/photo.png`` without scikit-learn),
resized with Pillow's bicubic to each job's input size. A Markdown table goes to stdout,
progress to stderr; ``--json`` keeps every figure."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from mossnet.core.paths import DEFAULT_CHECKPOINT, EXAMPLES
from mossnet.tools.benchmark.machine import LoadMonitor, describe

SIZES = {"1080p": (480, 270), "4K": (960, 540), "8K": (1920, 1080)}  # LR input -> x4 output
HEADLINE = "4K"
BASELINE = "float"
# key -> (what the user types after ``python -m``, with IN OUT where the paths go; artifact or None)
COMMANDS = {
    "float": (["mossnet.upscale", "IN", "OUT"], None),
    "executorch:int8-ptq": (["targets.executorch", "upscale", "IN", "OUT", "--artifact", "ART"], ("executorch", "int8-ptq")),
    "executorch:fp32": (["targets.executorch", "upscale", "IN", "OUT", "--artifact", "ART"], ("executorch", "fp32")),
    "tflite:int8": (["targets.tflite", "upscale", "IN", "OUT", "--artifact", "ART"], ("tflite", "int8")),
    "tflite:fp32": (["targets.tflite", "upscale", "IN", "OUT", "--artifact", "ART"], ("tflite", "fp32")),
}
# what the issue asks of the headline job (issue 16)
WALL_TARGETS = {"executorch:int8-ptq": 1.5, "tflite:int8": 2.0}
SPEEDUP_TARGET = 4.0
TILES_TARGET_S = 0.30
RSS_TARGET_MB, RSS_GROWTH_TARGET = 300.0, 1.10
MEMORY_RUNS = 3


def log(msg: str) -> None:
    print(f"[e2e] {msg}", file=sys.stderr, flush=True)


def photos() -> list[Path]:
    import importlib.util
    spec = importlib.util.find_spec("sklearn")
    if spec and spec.origin:
        folder = Path(spec.origin).parent / "datasets" / "images"
        return [folder / "china.jpg", folder / "flower.jpg", EXAMPLES / "photo.png"]
    return [EXAMPLES / "photo.png"]


def make_inputs(work: Path) -> dict[str, Path]:
    """The job inputs (one photo at each LR size) and a folder of mixed photos and crops."""
    first = photos()[0]
    out = {}
    with Image.open(first) as im:
        rgb = im.convert("RGB")
        for name, size in SIZES.items():
            out[name] = work / f"in_{name}.png"
            rgb.resize(size, Image.BICUBIC).save(out[name])
    folder = work / "folder"
    folder.mkdir()
    for p in photos():
        with Image.open(p) as im:
            rgb = im.convert("RGB")
        w, h = rgb.size
        rgb.save(folder / f"{p.stem}.png")
        rgb.crop((w // 4, h // 4, w // 4 + w // 2, h // 4 + h // 2)).save(folder / f"{p.stem}_crop.jpg", quality=92)
        rgb.resize((w * 3 // 4, h * 3 // 4), Image.BICUBIC).save(folder / f"{p.stem}_small.png")
    out["folder"] = folder
    return out


def artifacts(root: str, keys: list[str]) -> dict[str, Path]:
    """The exported artifact each command needs, built or rebuilt by the artifact store if
    missing or stale (in a child process: building runs programs, which would size
    ExecuTorch's thread pool in this one)."""
    need = {k: COMMANDS[k][1] for k in keys if COMMANDS[k][1]}
    if not need:
        return {}
    code = ("import json, sys\nfrom targets import registry\nfrom targets.store import ArtifactStore\n"
            "store = ArtifactStore(sys.argv[1])\nout = {}\n"
            "for key, (rt, pr) in json.loads(sys.argv[2]).items():\n"
            "    runtime = registry.get(rt)\n"
            "    precision = next(p for p in runtime.precisions if p.name == pr)\n"
            "    out[key] = str(store.ensure(runtime, precision, sys.argv[3]).path)\n"
            "print(json.dumps(out))\n")
    proc = subprocess.run([sys.executable, "-c", code, root, json.dumps(need), str(DEFAULT_CHECKPOINT)],
                          stdout=subprocess.PIPE, text=True, check=True)
    return {k: Path(v) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}


def argv_for(key: str, src: Path, dst: Path, art: dict[str, Path], extra=()) -> list[str]:
    subst = {"IN": str(src), "OUT": str(dst), "ART": str(art.get(key, ""))}
    return [subst.get(a, a) for a in COMMANDS[key][0]] + ["-q", *extra]


def timed(argv: list[str], work: Path) -> dict:
    """One whole process: wall seconds from spawn to exit and its own peak RSS (MB)."""
    report = work / "peak.json"
    report.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "mossnet.tools.benchmark.peak", str(report), *argv]
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"python -m {' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    peak = json.loads(report.read_text())["peak_kib"] * 1024 / 1e6
    return {"wall_s": wall, "peak_mb": peak}


def headline(keys, inputs, art, work, runs: int) -> dict:
    """Alternating rounds over every command (one untimed warm-up round first)."""
    walls = {k: [] for k in keys}
    peaks = {k: [] for k in keys}
    for r in range(runs + 1):
        for k in keys:
            log(f"{HEADLINE}: {k} round {r}{' (warm-up)' if r == 0 else ''}")
            res = timed(argv_for(k, inputs[HEADLINE], work / f"out_{k.replace(':', '_')}.png", art), work)
            if r:
                walls[k].append(res["wall_s"])
                peaks[k].append(res["peak_mb"])
    return {k: {"median_s": statistics.median(walls[k]), "min_s": min(walls[k]), "runs_s": walls[k],
                "peak_mb": max(peaks[k])} for k in keys}


def memory(keys, inputs, art, work, runs: int = MEMORY_RUNS) -> dict:
    """Peak RSS per output size, the median of ``runs`` runs (the sizes alternate within a
    round; one run of the 8K job varies by about 1.5 MB with how far the PNG encoder lags the
    tiles); growth from 1080p to 8K."""
    out = {}
    for k in keys:
        peaks = {size: [] for size in SIZES}
        for i in range(runs):
            for size in SIZES:
                log(f"memory: {k} {size} ({i + 1}/{runs})")
                peaks[size].append(timed(argv_for(k, inputs[size], work / "out_mem.png", art), work)["peak_mb"])
        row = {size: {"peak_mb": statistics.median(v), "runs_mb": v} for size, v in peaks.items()}
        row["growth"] = row["8K"]["peak_mb"] / row["1080p"]["peak_mb"]
        out[k] = row
    return out


def imports(keys, runs: int = 3) -> dict:
    """Seconds to import the command line and its runtime in a fresh process (best of ``runs``),
    and an empty interpreter's start-up for comparison."""
    def best(code: str) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - start)
        return min(times)
    out = {"python": best("pass")}
    for rt in dict.fromkeys(runtime_of(k) for k in keys):
        log(f"imports: {rt}")
        out[rt] = best(f"import targets.cli; from targets import registry; registry.get({rt!r}).import_runtime()")
    return out


def folder_throughput(keys, inputs, art, work) -> dict:
    folder = inputs["folder"]
    n = len(list(folder.iterdir()))
    out = {}
    for k in keys:
        log(f"folder: {k} ({n} images)")
        dst = work / f"folder_out_{k.replace(':', '_')}"
        res = timed(argv_for(k, folder, dst, art), work)
        res.update(images=n, images_per_s=n / res["wall_s"],
                   output_mp=sum(Image.open(p).size[0] * Image.open(p).size[1] for p in dst.iterdir()) / 1e6)
        out[k] = res
    return out


def tile_time(art: Path, image: Path, runs: int) -> dict:
    """The 4K job's tiles through ExecuTorch int8 in one process (no image I/O) at each thread
    count from 1 to the CPUs (a fresh child each: the count sizes ExecuTorch's pool), the
    fastest count as the figure; the int8 operations they take (torch's FlopCounterMode on the
    patch program: convolutions, two per multiply-add) and the rate they reach. The command
    lines' own count (``targets.threads``) can differ: there the PNG encoder shares the CPUs."""
    code = ("import json, sys, time, numpy as np\nfrom PIL import Image\nimport mossnet\n"
            "up = mossnet.load(sys.argv[1], threads=int(sys.argv[4]))\n"
            "rgb = np.asarray(Image.open(sys.argv[2]).convert('RGB'))\n"
            "class Null:\n    def __setitem__(self, k, v): pass\n"
            "up.upscale_rgb(rgb, out=Null())\nts = []\n"
            "for _ in range(int(sys.argv[3])):\n"
            "    t = time.perf_counter(); up.upscale_rgb(rgb, out=Null()); ts.append(time.perf_counter() - t)\n"
            "print(json.dumps({'runs_s': ts, 'tiles': up.tiles(*rgb.shape[:2]), 'patch': up.tiling.patch,"
            " 'halo': up.tiling.halo}))\n")
    by_threads = {}
    for n in range(1, (os.cpu_count() or 1) + 1):
        log(f"tiles: executorch int8 in one process, {plural(n, 'thread')}")
        proc = subprocess.run([sys.executable, "-c", code, str(art), str(image), str(runs), str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
        by_threads[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    best = min(by_threads, key=lambda n: statistics.median(by_threads[n]["runs_s"]))
    r = dict(by_threads[best], threads=best,
             median_s_by_threads={n: statistics.median(v["runs_s"]) for n, v in by_threads.items()})
    from targets.threads import default_threads
    r["command_threads"] = default_threads("executorch")[0]
    ops = patch_ops(r["patch"]) * r["tiles"]
    r.update(median_s=statistics.median(r["runs_s"]), min_s=min(r["runs_s"]), int8_gops=ops / 1e9,
             gops_per_s=ops / 1e9 / statistics.median(r["runs_s"]))
    return r


def patch_ops(patch: int) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mossnet.core.checkpoint import load_model
    from mossnet.core.pipeline import PatchProgram, example_inputs, model_tiling
    model, _ = load_model(DEFAULT_CHECKPOINT)
    tiling = model_tiling(model, patch=patch)
    _, (tile, modulation) = example_inputs(model, tiling)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        PatchProgram(model, tiling).eval()(tile, modulation)
    return counter.get_total_flops()


# /proc/cpuinfo flag -> (int8 ops per cycle per core, name), the best first
ISA_INT8_OPS_PER_CYCLE = {"avx512_vnni": (128, "AVX512_VNNI"), "avx_vnni": (64, "AVX_VNNI"),
                          "avx512bw": (64, "AVX-512, no VNNI"), "avx2": (32, "AVX2, no VNNI")}


def nominal_peak_gops() -> dict | None:
    """This machine's nominal int8 peak: cores x clock x int8 operations per cycle per core
    (512-bit VNNI: 64 multiply-adds per instruction, taken as one per cycle; AVX2 VNNI half
    that; without VNNI, signed int8 x int8 goes through 16-bit ``vpmaddwd``: 32 multiply-adds an
    instruction with AVX-512BW, 16 with AVX2). A rough ceiling for the ratio, not a measurement."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    mhz = next((float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")), None)
    if mhz is None:
        return None
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    isa = next((isa for isa in ISA_INT8_OPS_PER_CYCLE if isa in flags), None)
    if isa is None:
        return None
    per_cycle, name = ISA_INT8_OPS_PER_CYCLE[isa]
    return {"per_core": mhz / 1e3 * per_cycle, "cores": os.cpu_count() or 1, "ghz": mhz / 1e3,
            "ops_per_cycle": per_cycle, "isa": name}


def plural(n, noun: str) -> str:
    return f"{n} {noun}{'' if int(n) == 1 else 's'}"


def runtime_of(key: str) -> str:
    return COMMANDS[key][1][0] if COMMANDS[key][1] else "pytorch"


def after_imports_ratio(r: dict, key: str) -> float:
    """The float command's wall over this one's, each less its runtime's import time."""
    imp, h = r["imports"], r["headline"]
    return (h[BASELINE]["median_s"] - imp[runtime_of(BASELINE)]) / (h[key]["median_s"] - imp[runtime_of(key)])


def verdict(r: dict) -> list[dict]:
    """The issue's targets against this run. Ratios have three decimals: one that misses its
    bound by less than 0.005 would otherwise print as the bound itself, next to "no"."""
    h, rows = r["headline"], []
    for key, bound in WALL_TARGETS.items():
        if key in h:
            rows.append({"target": f"{key} CLI, {HEADLINE} PNG -> PNG, median wall", "required": f"<= {bound} s",
                         "measured": f"{h[key]['median_s']:.2f} s", "met": h[key]["median_s"] <= bound})
    key = "executorch:int8-ptq"
    if key in h and BASELINE in h:
        ratio = h[BASELINE]["median_s"] / h[key]["median_s"]
        rows.append({"target": f"{key} CLI vs float mossnet.upscale, same rounds", "required": f">= {SPEEDUP_TARGET}x",
                     "measured": f"{ratio:.3f}x", "met": ratio >= SPEEDUP_TARGET})
    if r.get("tiles"):
        t = r["tiles"]
        rows.append({"target": f"{HEADLINE} tiles, ExecuTorch int8, in one process", "required": f"<= {TILES_TARGET_S} s",
                     "measured": f"{t['median_s']:.3f} s ({t.get('threads', '?')} threads)",
                     "met": t["median_s"] <= TILES_TARGET_S})
    for k, m in r.get("memory", {}).items():
        if k == BASELINE:
            continue
        top = max(m[s]["peak_mb"] for s in SIZES)
        rows.append({"target": f"{k} CLI peak RSS, 1080p..8K", "required": f"<= {RSS_TARGET_MB:.0f} MB, 8K <= "
                     f"{RSS_GROWTH_TARGET}x 1080p", "measured": f"{top:.0f} MB, {m['growth']:.3f}x",
                     "met": top <= RSS_TARGET_MB and m["growth"] <= RSS_GROWTH_TARGET})
    return rows


def markdown(r: dict) -> str:
    h, mem, base = r["headline"], r.get("memory", {}), r["headline"].get(BASELINE)
    imports = r.get("imports", {})
    lines = [f"| command (`python -m ...`) | {HEADLINE}: wall, median (min) | vs float CLI | imports | "
             "after imports, vs float | peak RSS | peak RSS 1080p / 8K | folder (images/s) |",
             "|---|---|---|---|---|---|---|---|"]
    for k, row in h.items():
        rt = runtime_of(k)
        ratio = f"{base['median_s'] / row['median_s']:.2f}x" if base else ""
        rest = (f"{row['median_s'] - imports[rt]:.2f} s, {after_imports_ratio(r, k):.2f}x"
                if rt in imports and runtime_of(BASELINE) in imports and base else "")
        m = mem.get(k)
        f = r.get("folder", {}).get(k)
        lines.append(f"| `{' '.join(COMMANDS[k][0][:2] if COMMANDS[k][1] else COMMANDS[k][0][:1])}` {k} | "
                     f"{row['median_s']:.2f} s ({row['min_s']:.2f}) | {ratio} | "
                     + (f"{imports[rt]:.2f} s" if rt in imports else "") + f" | {rest} | {row['peak_mb']:.0f} MB | "
                     + (f"{m['1080p']['peak_mb']:.0f} / {m['8K']['peak_mb']:.0f} MB" if m else "") + " | "
                     + (f"{f['images_per_s']:.2f}" if f else "") + " |")
    t = r.get("tiles")
    if t:
        peak = r.get("peak")
        cores = int(t.get("threads", 1))
        share = (f"; {t['gops_per_s'] / (cores * peak['per_core']):.0%} of the nominal int8 peak of "
                 f"{'one core' if cores == 1 else f'{cores} cores'} ({cores * peak['per_core']:.0f} G/s = "
                 f"{cores} x {peak['ghz']:.1f} GHz x {peak['ops_per_cycle']}"
                 + (f", {peak['isa']}" if peak.get("isa") else "") + ")") if peak else ""
        others = "; ".join(f"{plural(n, 'thread')}: {v:.3f} s"
                           for n, v in t.get("median_s_by_threads", {}).items() if int(n) != t.get("threads"))
        cmd = t.get("command_threads")
        lines += ["", f"{HEADLINE} tiles alone (ExecuTorch int8, one process, no image I/O): "
                  f"{t['median_s']:.3f} s median at {plural(t.get('threads', 0), 'thread')}, the fastest count "
                  f"({others}; the command lines use {cmd} here, beside the PNG encoder); "
                  f"{t['tiles']} tiles of {t['patch']}+2x{t['halo']}, "
                  f"{t['int8_gops']:.1f} G int8 ops, {t['gops_per_s']:.0f} G/s{share}."]
    lines += ["", f"Python start-up alone: {r['imports']['python']:.2f} s. Folder: {r['folder_images']} mixed photos "
              "and crops (PNG and JPEG in, PNG out) in one call." if "imports" in r else ""]
    lines += ["", "| target | required | measured | met |", "|---|---|---|---|"]
    lines += [f"| {v['target']} | {v['required']} | {v['measured']} | {'yes' if v['met'] else '**no**'} |"
              for v in r["targets"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.e2e", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5, help="timed rounds of the headline job (default 5)")
    p.add_argument("--commands", nargs="+", choices=list(COMMANDS), default=list(COMMANDS), metavar="KEY",
                   help=f"subset (default all: {' '.join(COMMANDS)})")
    p.add_argument("--artifacts", default="artifacts", help="artifact store root (default artifacts)")
    p.add_argument("--json", default=None, help="also write every figure here")
    p.add_argument("--quick", action="store_true", help="one round, no memory, folder or tile stages")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    monitor, start = LoadMonitor(), time.perf_counter()
    keys = args.commands
    art = artifacts(args.artifacts, keys)
    with tempfile.TemporaryDirectory(prefix="mossnet-e2e-") as tmp:
        work = Path(tmp)
        inputs = make_inputs(work)
        r = {"command": "python -m mossnet.tools.e2e" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": describe(),
             "photo": photos()[0].name,
             "headline": headline(keys, inputs, art, work, 1 if args.quick else args.runs)}
        r["imports"] = imports(keys, 1 if args.quick else 3)
        r["folder_images"] = len(list(inputs["folder"].iterdir()))
        if not args.quick:
            r["memory"] = memory(keys, inputs, art, work)
            r["folder"] = folder_throughput(keys, inputs, art, work)
            if "executorch:int8-ptq" in art:
                r["tiles"] = tile_time(art["executorch:int8-ptq"], inputs[HEADLINE], args.runs)
                r["peak"] = nominal_peak_gops()
    r["targets"] = verdict(r)
    r["load"] = monitor.stop()
    r["wall_s"] = round(time.perf_counter() - start, 1)
    if args.json:
        from mossnet.core.atomic import atomic_write
        atomic_write(args.json, lambda t: Path(t).write_text(json.dumps(r, indent=1) + "\n"))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
