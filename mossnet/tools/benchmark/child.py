"""One measurement in a fresh process; prints one JSON line. Run by the stages through
``mossnet.tools.benchmark.rss.run_child``:

    python -m mossnet.tools.benchmark.child --method executorch:int8-ptq --threads 1 --lr 960 540 --mode stream

Steps: import the runtime (RSS = import baseline), apply the thread count with the runtime's
``set_threads`` (before any program runs: ExecuTorch's pool is fixed at first use), load the
model and run a 64x64 warm-up (VmHWM = load peak), optionally time ``--calls`` single
``upscale_patch`` calls, make the LR input, reset VmHWM (RSS = baseline, input included), run the
job ``--warmup`` + ``--repeat`` times (VmHWM = the job's peak, which includes the baseline).
``--alloc-mb N`` replaces everything by touching an N MiB array: the self-test of the
measurement."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .rss import reset_peak, status_kib

MODES = ("stream", "ram")  # tiled output streamed to a PPM file, or held in RAM (upscale_tiled)


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.benchmark.child", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", help="a benchmark method (mossnet.tools.benchmark.methods)")
    p.add_argument("--ckpt")
    p.add_argument("--artifacts", default="artifacts")
    p.add_argument("--patch", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="Runtime.set_threads (default: the runtime's own)")
    p.add_argument("--lr", type=int, nargs=2, metavar=("W", "H"), default=(960, 540))
    p.add_argument("--mode", choices=MODES, default="stream", help="tiled methods only")
    p.add_argument("--calls", type=int, default=0, help="also report the median of this many upscale_patch calls")
    p.add_argument("--no-job", action="store_true", help="skip the job (with --calls: a latency-only child)")
    p.add_argument("--repeat", type=int, default=1, help="timed runs of the job; seconds = their median")
    p.add_argument("--warmup", type=int, default=0, help="untimed runs of the job first")
    p.add_argument("--extra-import", nargs="*", default=[], metavar="MODULE",
                   help="import these too before measuring (e.g. executorch.runtime)")
    p.add_argument("--alloc-mb", type=int, default=None, help="self-test: allocate this much instead")
    return p.parse_args(argv)


def alloc_job(mib: int) -> dict:
    reset_peak()
    before = status_kib()
    start = time.perf_counter()
    block = np.ones(mib * 2 ** 20 // 8)  # np.ones writes every page
    total = float(block.sum())
    del block
    return {"rss_baseline_kib": before["rss"], "peak_job_kib": status_kib()["hwm"],
            "seconds": time.perf_counter() - start, "checksum": total}


def main(argv=None) -> int:
    import importlib
    args = parse(argv)
    start = status_kib()
    if args.alloc_mb is not None:
        print(json.dumps({"rss_start_kib": start["rss"], **alloc_job(args.alloc_mb)}))
        return 0
    from .inputs import test_image
    from .methods import import_runtime, load, method
    from .stream import PPMStripWriter
    m = method(args.method)
    import_runtime(m)
    for module in args.extra_import:
        importlib.import_module(module)
    imported = status_kib()
    threads = m.threads_by.set_threads(args.threads) if m.threads_by else "n/a"
    loaded = load(m, args.ckpt, args.artifacts, args.patch)
    loaded.run(test_image(64, 64))  # warm-up: first-call allocations belong to the baseline
    w, h = args.lr
    report = {"method": m.key, "lr": [w, h], "threads": threads, "rss_start_kib": start["rss"],
              "rss_imported_kib": imported["rss"]}
    if args.calls and loaded.upscaler is not None:
        from mossnet.core.upscaler import call_ms
        report["call_ms"] = call_ms(loaded.upscaler, runs=args.calls)
    if loaded.upscaler is not None:
        t = loaded.tiling
        report["tiling"] = {**t.to_dict(), "input_size": t.input_size, "output_size": t.output_size}
        report["tiles"] = loaded.upscaler.tiles(h, w)
    if not args.no_job:
        loaded_peak = status_kib()["hwm"]  # model load and warm-up
        image = test_image(w, h)  # the job's input stays resident: part of the job's memory
        mode = args.mode if m.tiled else "ram"
        report.update(run_job(loaded, mode, image, PPMStripWriter, args.repeat, args.warmup))
        report["peak_load_kib"] = loaded_peak
    print(json.dumps(report))
    return 0


def run_job(loaded, mode: str, image: np.ndarray, writer, repeat: int = 1, warmup: int = 0) -> dict:
    h, w = image.shape[:2]
    baseline = status_kib()
    resettable = reset_peak()
    seconds, cpu = [], []
    for i in range(warmup + repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        if mode == "stream":
            with tempfile.TemporaryDirectory() as tmp, writer(Path(tmp) / "out.ppm", 4 * h, 4 * w) as out:
                loaded.run(image, out=out)
        else:
            sr = loaded.run(image)
            if sr.shape[:2] != (4 * h, 4 * w):
                raise SystemExit(f"error: output {sr.shape} for a {w}x{h} input")
            del sr
        if i >= warmup:
            seconds.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    end = status_kib()
    return {"mode": mode, "rss_baseline_kib": baseline["rss"], "peak_load_kib": baseline["hwm"],
            "peak_job_kib": end["hwm"] if resettable else None, "seconds": float(np.median(seconds)),
            "runs_s": seconds, "cpu_s": float(np.median(cpu)), "repeat": repeat, "warmup": warmup}


if __name__ == "__main__":
    sys.exit(main())
