"""``python -m targets export-all``: every artifact at every precision, one summary table.

Builds what the artifact store (``targets.store``) finds missing or stale: the int8 pipelines
first (``quantize.ptq`` / ``quantize.qat``), then every (runtime, precision) of the registry,
and prints for each: what was done, size, parity against its reference, Y-PSNR on the
benchmark sets through the real runtime (the MIL interpreter for Core ML off macOS), and the
median latency of one patch on this machine."""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from mossnet.core.errors import run_cli
from mossnet.core.evaluation import evaluate
from mossnet.core.image_io import atomic_write
from mossnet.core.paths import DEFAULT_CHECKPOINT
from mossnet.core.upscaler import call_ms

from . import registry
from .arm import parity as arm_parity
from .store import ArtifactStore


def export_all(store: ArtifactStore, ckpt: str, keys: list[str] | None, eval_dirs: list[str]) -> list[dict]:
    builds = registry.builds() if not keys else [registry.build(k) for k in keys]
    rows = []
    for rt, precision in builds:
        built = store.ensure(rt, precision, ckpt)
        print(f"{rt.name} {precision.name}: {built}", file=sys.stderr, flush=True)
        up = rt.open(built.path)
        results = evaluate({"artifact": up.upscale_rgb}, eval_dirs, up.scale, progress=False)["artifact"]
        rows.append({"runtime": rt.name, "precision": precision.name, "artifact": str(built.path),
                     "action": built.action, "patch": up.tiling.patch, "bytes": up.manifest["artifact"]["bytes"],
                     "parity_db": up.manifest["parity"]["output_psnr_db"],
                     "parity_reference": up.manifest["parity"]["reference"],
                     "y_psnr": {k: v["psnr"] for k, v in results.items() if k != "average"},
                     "patch_ms": call_ms(up) if rt.timed else None})
    return rows


def markdown(rows: list[dict]) -> str:
    sets = list(rows[0]["y_psnr"]) if rows else []
    lines = [f"Measured on {platform.machine()} {platform.system()} ({platform.processor() or 'cpu'}), "
             f"patch {rows[0]['patch'] if rows else '?'} LR px; runtimes with no real runtime on this OS "
             f"(Core ML off macOS: its MIL interpreter) report no latency.", "",
             "| runtime | precision | size (KiB) | parity (dB) vs | " + " | ".join(f"{s} Y-PSNR" for s in sets)
             + " | ms / patch |", "|---" * (5 + len(sets)) + "|"]
    for r in rows:
        latency = "n/a" if r["patch_ms"] is None else f"{r['patch_ms']:.1f}"
        lines.append(f"| {r['runtime']} | {r['precision']} | {r['bytes'] / 1024:.0f} | {r['parity_db']:.1f} vs "
                     f"{r['parity_reference']} | " + " | ".join(f"{r['y_psnr'][s]:.2f}" for s in sets)
                     + f" | {latency} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m targets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export-all", help="build (what is missing or stale) and measure every artifact")
    e.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT))
    e.add_argument("--out", default="artifacts", help="artifact store root (default artifacts)")
    e.add_argument("--calib", nargs="+", default=None, help="calibration/QAT images when quantizing")
    e.add_argument("--eval", nargs="+", default=None, help="benchmark folders (default Set5, Set14 from ../shared)")
    e.add_argument("--only", nargs="+", default=None, metavar="RUNTIME:PRECISION",
                   choices=[f"{rt.name}:{pr.name}" for rt, pr in registry.builds()], help="a subset, e.g. tflite:int8")
    a = sub.add_parser("arm-parity", help="run every ExecuTorch/LiteRT artifact on emulated arm64 CPU models",
                       description=arm_parity.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    arm_parity.add_arguments(a)
    args = p.parse_args(argv)
    if args.command == "arm-parity":
        return run_cli(lambda: arm_parity.run(args))

    def body() -> int:
        from quantize.report import default_eval_dirs
        dirs = args.eval or default_eval_dirs()[:2]
        rows = export_all(ArtifactStore(args.out, calib=args.calib, eval_dirs=dirs), args.ckpt, args.only, dirs)
        table = markdown(rows)
        print(table)
        out = Path(args.out)
        atomic_write(out / "summary.json", lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=1) + "\n"))
        atomic_write(out / "summary.md", lambda tmp: Path(tmp).write_text(table + "\n"))
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
