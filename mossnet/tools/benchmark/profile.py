"""Where ExecuTorch's time goes: per-operator times from ExecuTorch's devtools (ETDump read
by ``executorch.devtools.Inspector``) over N calls of ``upscale_patch``, in a fresh process;
prints one JSON line. Also the wall time per call seen from Python, so time spent outside
``Method::execute`` (the Python bindings, other threads) shows up as the difference.

    python -m mossnet.tools.benchmark.profile ARTIFACT.pte [--threads N]"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

OUTSIDE = ("Method::execute", "DELEGATE_CALL", "OPERATOR_CALL")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.benchmark.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("artifact")
    p.add_argument("--threads", type=int, default=None,
                   help="ExecuTorch.set_threads (default: the runtime defaults, both pools untouched)")
    p.add_argument("--calls", type=int, default=50)
    args = p.parse_args(argv)
    import torch

    from targets import registry
    from targets.manifest import load_manifest
    et = registry.get("executorch")
    manifest = load_manifest(args.artifact, et.name, [p.name for p in et.precisions])
    threads = et.set_threads(args.threads)  # before the first program runs; None: the runtime's defaults
    rt = et.bindings()
    program = rt._load_program(str(args.artifact), enable_etdump=True, debug_buffer_size=0)
    context, patch = program.load_method("context"), program.load_method("upscale_patch")
    shapes = {n: manifest["programs"][n]["inputs"][0]["shape"] for n in ("context", "upscale_patch")}
    modulation = context([torch.rand(*shapes["context"])])[0]
    x = torch.rand(*shapes["upscale_patch"])
    for _ in range(3):
        patch([x, modulation])
    wall = []
    for _ in range(args.calls):
        start = time.perf_counter()
        patch([x, modulation])
        wall.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        etdump = Path(tmp) / "profile.etdp"
        program.write_etdump_result_to_file(str(etdump), str(Path(tmp) / "debug.bin"))
        print(json.dumps({"threads": threads, "wall_ms": 1e3 * float(np.median(wall)), **summarize(etdump, args.calls)}))
    return 0


def summarize(etdump: Path, calls: int) -> dict:
    """Median per operator instance of the patch method, summed per operator kind."""
    import warnings
    warnings.filterwarnings("ignore", message="Output Buffer not found")
    from executorch.devtools import Inspector
    blocks = [b for b in Inspector(etdump_path=str(etdump)).event_blocks
              if b.name == "Execute" and any(e.perf_data is not None and len(e.perf_data.raw) >= calls
                                             for e in b.events)]
    kinds, totals = defaultdict(lambda: {"ms": 0.0, "count": 0, "delegated": True}), {}
    for ev in blocks[-1].events if blocks else []:
        if ev.perf_data is None:
            continue
        ms = float(np.median(ev.perf_data.raw))
        if ev.name in OUTSIDE:
            totals[ev.name] = totals.get(ev.name, 0.0) + ms
            continue
        kind = re.sub(r" #\d+$", "", ev.name)
        kinds[kind]["ms"] += ms
        kinds[kind]["count"] += 1
        kinds[kind]["delegated"] = bool(ev.is_delegated_op)
    execute = totals.get("Method::execute")
    ops = sorted(({"op": k, **v, "share": v["ms"] / execute if execute else None} for k, v in kinds.items()),
                 key=lambda r: -r["ms"])
    return {"execute_ms": execute, "delegate_ms": totals.get("DELEGATE_CALL"), "ops": ops}


if __name__ == "__main__":
    sys.exit(main())
