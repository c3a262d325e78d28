"""Benchmark every MossNet build on this machine: ``python -m mossnet.bench``.

For each model x runtime x precision (PyTorch eager, ExecuTorch/XNNPACK, LiteRT, Core ML via the
MIL interpreter; bicubic and an untrained ESPCN as baselines) it measures in one run:
latency of the tiled 960x540 -> 3840x2160 job (median after a warm-up), per-tile and per-call
latency, output MP/s, a patch-size sweep and a thread-count sweep; peak RSS of each job in a
fresh process from 256x256 to 8K output, against whole-image float inference; size on disk,
parameters and FLOPs; Y-PSNR / SSIM on Set5, Set14 and B100 through each real runtime.

Writes OUT/bench.json, bench.md, latency.png, memory.png, psnr_vs_gflops.png and grid.png.
Missing or stale artifacts (exported from another checkpoint) are built first with
``quantize.ptq`` and the ``targets`` exporters. Progress goes to stderr."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .benchmark import inputs
from .benchmark.artifacts import checkpoint_sha256, ensure_artifact, log
from .benchmark.methods import BY_KEY, DEFAULT_KEYS, HEADLINE_KEY, REFERENCE_KEY
from .checkpoint import DEFAULT_CHECKPOINT

SHARED_BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
PATCHES = [32, 48, 64, 96, 128]
SWEEP_KEYS = ["pytorch-fp32", "executorch-int8-ptq"]
GRID_KEYS = ["bicubic-pil", "pytorch-fp32", "executorch-int8-ptq", "tflite-int8", "coreml-w8a8"]
MEMORY_RUNTIMES = ("pytorch", "executorch", "tflite", "PIL")


@contextmanager
def torch_threads(n: int):
    """Builds (quantize, export, parity) run single-threaded: deterministic, and immune to
    the oversubscription that makes torch's OpenMP pool many times slower on a shared machine."""
    import torch
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m mossnet.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="artifacts/bench", help="output folder (default artifacts/bench)")
    p.add_argument("--artifacts", default="artifacts", help="artifact root; missing ones are built (default artifacts)")
    p.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT), help="MossNet checkpoint (default: shipped XS x4)")
    p.add_argument("--quick", action="store_true", help="small sizes, one run, patches 32/64: a smoke test")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every runtime (default: per runtime, the fastest of 1..CPUs, measured)")
    p.add_argument("--runs", type=int, default=None, help="timed runs per job (default 5, --quick 1)")
    p.add_argument("--skip-quality", action="store_true", help="no PSNR/SSIM and no image grid")
    p.add_argument("--skip-memory", action="store_true", help="no per-job memory children")
    p.add_argument("--sets", nargs="+", default=None, metavar="SET",
                   help="benchmark sets: names under ../shared/data/benchmarks or folders (default Set5 Set14 B100)")
    p.add_argument("--methods", nargs="+", default=None, choices=sorted(BY_KEY), metavar="KEY",
                   help=f"subset to measure (default: {' '.join(DEFAULT_KEYS)})")
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


class Bench:
    def __init__(self, args):
        from .benchmark.machine import describe
        self.args = args
        self.quick = args.quick
        self.sizes = inputs.QUICK_SIZES if self.quick else inputs.SIZES
        self.headline = inputs.QUICK_HEADLINE if self.quick else inputs.HEADLINE
        self.runs = args.runs or (1 if self.quick else 5)
        self.root = Path(args.artifacts)
        self.keys = list(args.methods or DEFAULT_KEYS)
        self.loaded, self.notes, self.et_threads = {}, [], {}
        self.et_config = None  # (ExecuTorch threads, torch threads) unless the defaults were fastest
        import torch
        self.torch_default_threads = torch.get_num_threads()
        self.results = {"command": "python -m mossnet.bench" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:]),
                        "machine": describe(), "checkpoint": {"path": args.ckpt, "sha256": checkpoint_sha256(args.ckpt)},
                        "methods": {}, "notes": self.notes}

    # -- loading -----------------------------------------------------------------------------
    def build_artifacts(self, eval_dirs: list[str]) -> None:
        with torch_threads(1):
            self._build_artifacts(eval_dirs)

    def _build_artifacts(self, eval_dirs: list[str]) -> None:
        for key in list(self.keys):
            spec = BY_KEY[key]
            if not spec.artifact:
                continue
            try:
                ensure_artifact(self.root, spec.runtime, spec.precision, self.args.ckpt, self.default_patch, eval_dirs)
            except Exception as exc:  # a missing extra or a failed export: report, go on
                self._skip(key, exc)

    def load_methods(self) -> None:
        from .benchmark.methods import load
        for key in list(self.keys):
            try:
                self.loaded[key] = load(BY_KEY[key], self.args.ckpt, self.root)
            except Exception as exc:
                self._skip(key, exc)

    def _skip(self, key: str, exc: Exception) -> None:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        msg = f"{BY_KEY[key].label}: skipped ({type(exc).__name__}: {first})"
        log(msg)
        self.notes.append(msg)
        self.keys.remove(key)

    @property
    def default_patch(self) -> int:
        from .tiling import DEFAULT_PATCH
        return DEFAULT_PATCH

    def describe_methods(self) -> None:
        from .arch import count_parameters
        from .benchmark.baselines import espcn_budget
        from .checkpoint import load_model
        from .info import count_flops
        model, _ = load_model(self.args.ckpt)
        params, gflops = count_parameters(model), count_flops(model) / 1e9
        for key, m in self.loaded.items():
            s = m.spec
            row = {"label": s.label, "runtime": s.runtime, "precision": s.precision, "model": s.model,
                   "tiled": s.tiled, "artifact": str(m.artifact) if m.artifact else None}
            if s.model == "MossNet":
                row.update(parameters=params, gflops_256=gflops, label=s.label)
                row["bytes"] = m.manifest["artifact"]["bytes"] if m.manifest else os.path.getsize(self.args.ckpt)
                row["bytes_what"] = "artifact (manifest)" if m.manifest else "float checkpoint file"
                if m.tiling:
                    row["tiling"] = m.tiling.to_dict()
            elif s.model == "ESPCN":
                row["parameters"], row["gflops_256"] = espcn_budget()
            self.results["methods"][key] = row
        tiling = next((m.tiling for m in self.loaded.values() if m.tiling), None)
        self.results["settings"] = {
            "sizes": self.sizes, "headline": self.headline, "runs": self.runs, "quick": self.quick,
            "patch": tiling.patch if tiling else None, "halo": tiling.halo if tiling else None,
            "flops": "torch FlopCounterMode at 256x256 LR, 2 FLOPs per multiply-add, convolutions only"}

    # -- speed -------------------------------------------------------------------------------
    def executorch_threads(self) -> None:
        """ExecuTorch's thread pool is fixed once a program ran, so thread counts are compared in
        fresh processes (per-call latency), and the fastest for the headline build is set here,
        before this process loads any .pte. Each count N runs with torch's intra-op pool at 1:
        the Python bindings copy tensors in and out with torch ops, and torch's idle OpenMP
        workers then spin and take the cores from XNNPACK ("defaults" = both pools untouched)."""
        from .benchmark.methods import set_threads
        from .benchmark.rss import ChildError, run_child
        keys = [k for k in self.keys if BY_KEY[k].runtime == "executorch"]
        if not keys:
            return
        if self.args.threads:
            set_threads("executorch", self.args.threads)
            self.et_config = (self.args.threads, 1)
            self.et_threads = {k: {"chosen": self.args.threads, "how": "--threads; torch intra-op threads 1"} for k in keys}
            return
        configs = {"defaults": []} | {str(n): ["--threads", str(n), "--torch-threads", "1"] for n in self.thread_candidates}
        ms = {k: {} for k in keys}
        for label, extra in configs.items():
            for k in keys:
                log(f"threads: {k} {label} (fresh process)")
                try:
                    ms[k][label] = run_child(["--method", k, "--ckpt", self.args.ckpt, "--artifacts", str(self.root),
                                              "--calls", "5" if self.quick else "30", "--no-job", *extra])["call_ms"]
                except ChildError as exc:
                    self.notes.append(f"threads {k} {label}: failed ({exc})")
        lead = HEADLINE_KEY if ms.get(HEADLINE_KEY) else keys[0]
        best = min(ms[lead], key=ms[lead].get) if ms[lead] else "defaults"
        if best != "defaults":
            set_threads("executorch", int(best))
            self.et_config = (int(best), 1)
        self.et_threads = {k: {"chosen": best, "ms": ms[k], "how": f"fastest per-call latency of {lead}, fresh "
                               "process per count, torch intra-op threads 1; one pool for every ExecuTorch program"}
                           for k in keys}

    @property
    def thread_candidates(self) -> list[int]:
        return list(range(1, (os.cpu_count() or 1) + 1))

    def threads(self) -> None:
        from .benchmark.methods import set_threads
        from .benchmark.timing import best_threads
        for key, m in self.loaded.items():
            if not m.spec.timed:
                continue
            row = self.results["methods"][key]
            if m.spec.runtime == "executorch":
                row["threads"] = self.et_threads[key]
            elif self.args.threads or m.spec.runtime != "pytorch":
                row["threads"] = {"chosen": self.args.threads or 1, "how": set_threads(m.spec.runtime, self.args.threads)}
            else:
                log(f"threads: {key} {self.thread_candidates}")
                best, ms = best_threads(m, self.thread_candidates, runs=5 if self.quick else 15)
                row["threads"] = {"chosen": best, "ms": ms, "how": "fastest per-call latency (torch.set_num_threads)"}

    def latency(self) -> None:
        from .benchmark.timing import call_ms, time_job
        from .tiling import plan_tiles
        w, h = self.sizes[self.headline]
        image = inputs.test_image(w, h)
        mp = inputs.output_megapixels((w, h))
        for key, m in self.loaded.items():
            if not m.spec.timed:
                continue
            self._threads_for(key)
            log(f"latency: {key} {self.headline} x{self.runs}")
            lat = time_job(lambda: m.run(image), self.runs)
            lat["mp_per_s"] = mp / lat["median_s"]
            if m.spec.tiled:
                lat["tiles"] = len(plan_tiles(h, w, m.tiling))
                lat["ms_per_tile"] = 1e3 * lat["median_s"] / lat["tiles"]
                lat["call_ms"] = call_ms(m, runs=5 if self.quick else 20)
            self.results["methods"][key]["latency"] = lat
        ref = self.results["methods"].get(REFERENCE_KEY, {}).get("latency")
        for row in self.results["methods"].values():
            if ref and row.get("latency"):
                row["latency"]["speedup_vs_float"] = ref["median_s"] / row["latency"]["median_s"]

    def _threads_for(self, key: str) -> int | None:
        from .benchmark.methods import set_threads
        import torch
        n = self.results["methods"][key].get("threads", {}).get("chosen")
        if self.loaded[key].spec.runtime == "executorch":  # its pool was set once, before loading
            torch.set_num_threads(self.et_config[1] if self.et_config else self.torch_default_threads)
        else:
            set_threads(self.loaded[key].spec.runtime, n)
        return n

    def patch_sweep(self, eval_dirs: list[str]) -> None:
        from .benchmark.methods import load
        from .benchmark.timing import call_ms, time_job
        from .tiling import plan_tiles
        patches = self.args.patches if self.args.patches is not None else ([32, 64] if self.quick else PATCHES)
        keys = [k for k in SWEEP_KEYS if k in self.loaded] if not self.quick else \
            [k for k in SWEEP_KEYS if k in self.loaded and not BY_KEY[k].artifact]
        w, h = self.sizes[self.headline]
        image = inputs.test_image(w, h)
        sweep = {}
        for key in keys:
            spec, rows = BY_KEY[key], []
            for patch in patches:
                try:
                    if spec.artifact:
                        with torch_threads(1):
                            ensure_artifact(self.root, spec.runtime, spec.precision, self.args.ckpt, patch, eval_dirs[:1])
                    m = self.loaded[key] if patch == self.default_patch else load(spec, self.args.ckpt, self.root, patch)
                except Exception as exc:
                    self.notes.append(f"patch sweep {key} patch {patch}: skipped ({type(exc).__name__}: {exc})")
                    continue
                self._threads_for(key)
                log(f"patch sweep: {key} patch {patch}")
                t = m.tiling
                tiles = len(plan_tiles(h, w, t))
                c = call_ms(m, runs=5 if self.quick else 15)
                job = time_job(lambda: m.run(image), max(1, self.runs // 2 + 1))
                rows.append({"patch": patch, "halo": t.halo, "input": t.input_size, "tiles": tiles,
                             "overhead": tiles * t.input_size ** 2 / (w * h), "call_ms": c,
                             "us_per_output_px": 1e3 * c / t.output_size ** 2, "job_s": job["median_s"]})
            sweep[key] = rows
        self.results["patch_sweep"] = sweep

    def before_after(self) -> None:
        """The ExecuTorch int8 changes made after the first run, each side measured now in fresh
        processes: thread pools as they start vs the chosen ones (per-call profile and the headline
        job), and the runner's old import of ``executorch.runtime`` vs the lean one (peak RSS)."""
        from .benchmark.rss import ChildError, run_child
        key = HEADLINE_KEY
        if key not in self.loaded or self.et_config is None:
            return
        artifact = str(self.loaded[key].artifact)
        chosen = ["--threads", str(self.et_config[0]), "--torch-threads", str(self.et_config[1])]
        w, h = self.sizes[self.headline]
        job = ["--method", key, "--ckpt", self.args.ckpt, "--artifacts", str(self.root), "--lr", str(w), str(h),
               "--mode", "stream", "--repeat", str(self.runs)]
        out = {"before": "runtime defaults (ExecuTorch and torch thread pools untouched); runner importing "
                         "executorch.runtime", "after": f"ExecuTorch {self.et_config[0]} thread(s), torch intra-op "
                         f"{self.et_config[1]}; runner importing only the runtime extension"}
        try:
            for side, extra, imports in (("before", [], ["--extra-import", "executorch.runtime"]), ("after", chosen, [])):
                log(f"before/after: {side}")
                out[f"profile_{side}"] = run_child([artifact, *extra, "--calls", "20" if self.quick else "50"],
                                                   module="mossnet.benchmark.profile")
                r = run_child([*job, *extra, *imports])
                out[f"job_{side}_s"], out[f"peak_{side}_mb"] = r["seconds"], max(r["peak_load_kib"], r["peak_job_kib"] or 0) * 1024 / 1e6
                out[f"rss_imported_{side}_mb"] = r["rss_imported_kib"] * 1024 / 1e6
        except ChildError as exc:
            self.notes.append(f"before/after: failed ({exc})")
        self.results["before_after"] = out

    # -- memory ------------------------------------------------------------------------------
    def memory(self) -> None:
        from .benchmark.rss import ChildError, run_child
        for key, m in self.loaded.items():
            if not m.spec.timed or m.spec.runtime not in MEMORY_RUNTIMES:
                continue
            modes = ["stream", "ram"] if key == HEADLINE_KEY else (["stream"] if m.spec.tiled else ["ram"])
            row = self.results["methods"][key].setdefault("memory", {})
            threads = self.results["methods"][key].get("threads", {}).get("chosen")
            if m.spec.runtime == "executorch":
                threads = self.et_config
            extra = [] if not threads else (["--threads", str(threads[0]), "--torch-threads", str(threads[1])]
                                            if isinstance(threads, tuple) else ["--threads", str(threads)])
            for mode in modes:
                runs = row.setdefault(mode, {})
                for size, (w, h) in self.sizes.items():
                    log(f"memory: {key} {mode} {size}")
                    argv = ["--method", key, "--ckpt", self.args.ckpt, "--artifacts", str(self.root),
                            "--lr", str(w), str(h), "--mode", mode, *extra]
                    try:
                        r = run_child(argv)
                    except ChildError as exc:
                        self.notes.append(f"memory {key} {mode} {size}: failed ({exc})")
                        continue
                    # the process's lifetime peak: loading may peak higher than the job itself
                    r["peak_mb"] = max(r["peak_load_kib"], r["peak_job_kib"] or 0) * 1024 / 1e6
                    r["peak_job_mb"] = (r["peak_job_kib"] or r["peak_load_kib"]) * 1024 / 1e6
                    runs[size] = r
                flat = [s for s in self.sizes if s != "256x256"]  # the target: 1080p -> 8K
                if len(flat) >= 2 and all(s in runs for s in (flat[0], flat[-1])):
                    growth = self.results["methods"][key].setdefault("memory_growth", {})
                    growth[mode] = runs[flat[-1]]["peak_mb"] / runs[flat[0]]["peak_mb"] - 1

    # -- quality -----------------------------------------------------------------------------
    def quality(self, set_dirs: list[str]) -> list[dict]:
        from .benchmark.quality import grid_rows, measure
        res = measure(self.loaded, set_dirs, REFERENCE_KEY)
        for key, q in res.items():
            self.results["methods"][key]["quality"] = q
        self.results["settings"]["sets"] = [Path(d).name for d in set_dirs]
        log("grid images")
        return grid_rows(self.loaded, [k for k in GRID_KEYS if k in self.loaded], set_dirs)

    # -- verdict -----------------------------------------------------------------------------
    def targets(self) -> None:
        from .benchmark.verdict import evaluate_targets
        self.results["targets"] = evaluate_targets(self.results)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    set_dirs = [] if args.skip_quality else resolve_sets(args.sets)
    try:
        eval_dirs = set_dirs[:1] or resolve_sets(["Set5"])
    except SystemExit:
        eval_dirs = [str(Path(__file__).resolve().parents[1] / "examples")]
    bench = Bench(args)
    bench.build_artifacts(eval_dirs)
    bench.executorch_threads()
    bench.load_methods()
    if not bench.loaded:
        print("error: nothing to measure", file=sys.stderr)
        return 2
    bench.describe_methods()
    bench.threads()
    bench.latency()
    bench.patch_sweep(eval_dirs)
    bench.before_after()
    if not args.skip_memory:
        bench.memory()
    rows = [] if args.skip_quality else bench.quality(set_dirs)
    bench.results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    bench.results["wall_s"] = time.perf_counter() - start
    bench.targets()
    from .benchmark import plots, report
    out = Path(args.out)
    report.write(bench.results, out)
    plots.latency(bench.results, out / "latency.png")
    plots.memory(bench.results, out / "memory.png")
    plots.psnr_vs_gflops(bench.results, out / "psnr_vs_gflops.png")
    plots.grid(rows, out / "grid.png")
    print(report.markdown(bench.results))
    log(f"wrote {out}/bench.json, bench.md and the plots in {bench.results['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
