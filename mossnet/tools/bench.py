"""Benchmark every MossNet build on this machine: ``python -m mossnet.tools.bench``.

The methods are the runtime registry's builds (``RUNTIME:PRECISION``; ``pytorch:fp32`` tiled and
``pytorch:fp32:whole``) plus baselines (PIL and MATLAB bicubic, an untrained ESPCN). Stages, in
order (``mossnet.tools.benchmark.stages``): build (artifact store), threads (per runtime, the
fastest of 1..CPUs, each count in a fresh process), latency of the 960x540 -> 3840x2160 job,
patch sweep, peak memory per job in fresh processes (256x256 to 8K output, streamed), ExecuTorch
profile, quality (Y-PSNR / SSIM on Set5, Set14, B100 through each real runtime).

Writes RESULTS (default docs/results/bench.json, not with --quick), and OUT/bench.json,
bench.md, latency.png, memory.png, psnr_vs_gflops.png, grid.png. Tables in docs are rendered
from the results file: ``python -m mossnet.tools.benchmark.report``. Progress goes to stderr."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from mossnet.core.paths import DEFAULT_CHECKPOINT, SHARED_BENCHMARKS
from mossnet.tools.benchmark import inputs, methods
from mossnet.tools.benchmark.stages import Settings

PATCHES = (32, 48, 64, 96, 128)
RESULTS = "docs/results/bench.json"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="artifacts/bench", help="plots, grid, bench.md (default artifacts/bench)")
    p.add_argument("--results", default=None,
                   help=f"the machine-readable results file (default {RESULTS}; none with --quick); '' for none")
    p.add_argument("--artifacts", default="artifacts", help="artifact store root (default artifacts)")
    p.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT), help="MossNet checkpoint (default: shipped XS x4)")
    p.add_argument("--quick", action="store_true", help="small sizes, one run, patches 32/64: a smoke test")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every runtime (default: per runtime, the fastest of 1..CPUs, measured)")
    p.add_argument("--runs", type=int, default=None, help="timed runs of the headline job (default 5, --quick 1)")
    p.add_argument("--skip-quality", action="store_true", help="no PSNR/SSIM and no image grid")
    p.add_argument("--skip-memory", action="store_true", help="no per-job memory children")
    p.add_argument("--sets", nargs="+", default=None, metavar="SET",
                   help="benchmark sets: names under ../shared/data/benchmarks or folders (default Set5 Set14 B100)")
    p.add_argument("--methods", nargs="+", default=None, choices=methods.all_keys(), metavar="KEY",
                   help=f"subset to measure (default: {' '.join(methods.default_keys())})")
    p.add_argument("--patches", nargs="*", type=int, default=None,
                   help=f"patch sweep, LR core sizes (default {' '.join(map(str, PATCHES))}; none to skip)")
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    return args


def resolve_sets(names: list[str] | None) -> list[str]:
    dirs = []
    for name in names or ["Set5", "Set14", "B100"]:
        path = Path(name) if Path(name).is_dir() else SHARED_BENCHMARKS / name
        if not path.is_dir():
            raise SystemExit(f"error: benchmark set {name}: no such folder (looked in {SHARED_BENCHMARKS})")
        dirs.append(str(path))
    return dirs


def settings(args) -> Settings:
    q = args.quick
    return Settings(ckpt=args.ckpt, root=args.artifacts, sizes=inputs.QUICK_SIZES if q else inputs.SIZES,
                    headline=inputs.QUICK_HEADLINE if q else inputs.HEADLINE, runs=args.runs or (1 if q else 5),
                    calls=5 if q else 30, quick=q, threads=args.threads,
                    patches=tuple(args.patches if args.patches is not None else ((32, 64) if q else PATCHES)),
                    set_dirs=tuple([] if args.skip_quality else resolve_sets(args.sets)), cpus=os.cpu_count() or 1)


def measure(s: Settings, selected: dict, args) -> tuple[dict, list]:
    """Every stage in order; each returns its own part of the results."""
    from mossnet.tools.benchmark.stages import build, latency, memory, profile, quality, sweep, threads
    parts, notes, timing, rows = {}, [], {}, []

    def stage(name, fn, *a):
        t0 = time.perf_counter()
        out, more = fn(*a)
        timing[name] = round(time.perf_counter() - t0, 1)
        notes.extend(more)
        return out

    built = stage("build", build.run, s, selected, sweep.keys(s, selected), log)
    ms = {k: m for k, m in selected.items() if k in built["methods"]}
    parts.update(methods=built["methods"], sweep_builds=built["sweep"])
    parts["threads"] = stage("threads", threads.run, s, ms, log)
    parts["latency"] = stage("latency", latency.run, s, ms, parts["threads"], log)
    parts["patch_sweep"] = stage("sweep", sweep.run, s, ms, parts["threads"], log)
    if not args.skip_memory:
        parts["memory"] = stage("memory", memory.run, s, ms, parts["threads"], log)
    artifact = built["methods"].get(methods.HEADLINE, {}).get("artifact")
    parts["profile"] = stage("profile", profile.run, s, ms, parts["threads"], artifact, log)
    if s.set_dirs:
        parts["applied_threads"] = threads.apply(parts["threads"], ms)
        loaded = stage("load", threads.load_all, s, ms, log)
        parts["quality"] = stage("quality", lambda: (quality.run(s, loaded, log), []))
        rows = stage("grid", lambda: (quality.grid_rows(s, loaded, log), []))
    parts["stages_s"] = timing
    return parts, notes, rows


def _shown(path: str) -> str:
    """A path as the committed results show it: relative to the checkout when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def main(argv=None) -> int:
    from mossnet.core.hashing import sha256
    from mossnet.tools.benchmark import plots, report
    from mossnet.tools.benchmark.machine import LoadMonitor, describe
    from mossnet.tools.benchmark.verdict import evaluate_targets
    args = parse_args(argv)
    monitor, start = LoadMonitor(), time.perf_counter()
    s = settings(args)
    selected = {k: methods.method(k) for k in (args.methods or methods.default_keys())}
    parts, notes, rows = measure(s, selected, args)
    if not parts["methods"]:
        print("error: nothing to measure", file=sys.stderr)
        return 2
    results = {"command": "python -m mossnet.tools.bench" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:])),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": describe(),
               "checkpoint": {"path": _shown(args.ckpt), "sha256": sha256(args.ckpt)},
               "settings": {"sizes": s.sizes, "headline": s.headline, "runs": s.runs, "calls": s.calls,
                            "quick": s.quick, "patches": list(s.patches), "sets": [Path(d).name for d in s.set_dirs],
                            "flops": "torch FlopCounterMode at 256x256 LR, 2 FLOPs per multiply-add, convolutions only"},
               **parts, "notes": notes}
    results["load"] = monitor.stop()
    results["wall_s"] = round(time.perf_counter() - start, 1)
    results["targets"] = evaluate_targets(results)
    out = Path(args.out)
    targets = [out / "bench.json"] + ([] if args.results == "" or (args.quick and args.results is None)
                                      else [Path(args.results or RESULTS)])
    report.write(results, out, targets)
    plots.latency(results, out / "latency.png")
    plots.memory(results, out / "memory.png")
    plots.psnr_vs_gflops(results, out / "psnr_vs_gflops.png")
    plots.grid(rows, out / "grid.png")
    print(report.markdown(results))
    log(f"wrote {', '.join(map(str, targets))}, {out}/bench.md and the plots in {results['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
