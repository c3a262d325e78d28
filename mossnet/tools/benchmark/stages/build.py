"""Stage ``build``: every artifact the run needs, through ``targets.store.ArtifactStore.ensure``
(which builds what is missing or stale and says which), then what each method is: size on
disk, parameters, FLOPs.

The builds run in one child process (``python -m mossnet.tools.benchmark.stages.build``) with
torch at one thread: exporting measures parity by running the new program, and a program run
in the benchmark's own process would fix ExecuTorch's thread pool before the ``threads`` stage
chose it. One thread also keeps builds deterministic and immune to oversubscription."""
from __future__ import annotations

import argparse
import json
import os
import sys

from ..methods import Method, artifact_path, method
from ..rss import ChildError, run_child
from . import Settings


def jobs(s: Settings, methods: dict[str, Method], sweep: list[str]) -> list[tuple[str, int | None]]:
    """(method key, patch) pairs whose artifact the run needs; None = the default patch."""
    out = [(k, None) for k, m in methods.items() if m.runtime is not None and m.precision.quantized_by
           or m.exported]
    out += [(k, p) for k in sweep if methods[k].exported for p in s.patches]
    return list(dict.fromkeys(out))


def run(s: Settings, methods: dict[str, Method], sweep: list[str], log) -> tuple[dict, list[str]]:
    """({"methods": {key: {label, artifact, action, bytes, parameters, gflops_256, ...}},
    "sweep": {KEY@PATCH: {artifact, action, reason}}}, notes). A method whose build failed is
    left out of "methods" (and named in the notes)."""
    todo = jobs(s, methods, sweep)
    built, notes = {}, []
    if todo:
        log(f"build: {len(todo)} artifact(s) through the artifact store")
        argv = ["--ckpt", s.ckpt, "--root", s.root, *(f"{k}@{p or 0}" for k, p in todo)]
        try:
            built = run_child(argv, module="mossnet.tools.benchmark.stages.build", show_stderr=True)
        except ChildError as exc:
            notes.append(f"build: failed ({exc})")
    out = {}
    for key, m in methods.items():
        b = built.get(f"{key}@0")
        if (key, None) in todo and (b is None or "error" in b):
            notes.append(f"{m.label}: skipped ({(b or {}).get('error', 'not built')})")
            continue
        out[key] = {**describe(s, m), **(b or {})}
    return {"methods": out, "sweep": {k: v for k, v in built.items() if not k.endswith("@0")}}, notes


def describe(s: Settings, m: Method) -> dict:
    """Label, runtime, size on disk (artifact manifest or checkpoint file), parameters, FLOPs."""
    row = {"label": m.label, "runtime": m.runtime.name if m.runtime else None,
           "precision": m.precision.name if m.precision else None, "tiled": m.tiled, "timed": m.timed,
           "model": "MossNet" if m.runtime else m.key}
    if m.key == "espcn":
        from ..baselines import espcn_budget
        row["parameters"], row["gflops_256"] = espcn_budget()
    if m.runtime is None:
        return row
    row.update(model_budget(s.ckpt))
    path = artifact_path(m, s.ckpt, s.root) if m.exported or not m.precision.quantized_by else None
    if m.exported and path is not None:
        from targets.manifest import manifest_path
        manifest = json.loads(manifest_path(path).read_text())
        row.update(bytes=manifest["artifact"]["bytes"], bytes_what="artifact (manifest)", artifact=str(path),
                   parity=manifest.get("parity"))
    elif path is not None:
        row.update(bytes=os.path.getsize(path), bytes_what="float checkpoint file", artifact=str(path))
    return row


_BUDGET: dict = {}


def model_budget(ckpt: str) -> dict:
    if ckpt not in _BUDGET:
        from mossnet.core.arch import count_parameters
        from mossnet.core.checkpoint import load_model
        from mossnet.tools.info import count_flops
        model, _ = load_model(ckpt)
        _BUDGET[ckpt] = {"parameters": count_parameters(model), "gflops_256": count_flops(model) / 1e9}
    return dict(_BUDGET[ckpt])


def main(argv=None) -> int:
    """The child: ensure each ``KEY@PATCH`` (0 = default patch); one JSON object
    {KEY@PATCH: {artifact, action, reason} or {error}}."""
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.benchmark.stages.build")
    p.add_argument("--ckpt", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("jobs", nargs="+", metavar="KEY@PATCH")
    args = p.parse_args(argv)
    import torch

    from targets.store import ArtifactStore
    torch.set_num_threads(1)
    store, out = ArtifactStore(args.root), {}
    for job in args.jobs:
        key, _, patch = job.rpartition("@")
        m = method(key)
        try:
            if m.exported:
                b = store.ensure(m.runtime, m.precision, args.ckpt, int(patch) or None)
            else:
                b = store.ensure_pipeline(args.ckpt, m.precision.quantized_by, int(patch) or None)
            out[job] = {"artifact": str(b.path), "action": b.action, "reason": b.reason}
            print(f"[bench] build: {key} patch {int(patch) or 'default'}: {b}", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 - a missing extra or a failed export: report, go on
            out[job] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
            print(f"[bench] build: {key}: {out[job]['error']}", file=sys.stderr, flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
