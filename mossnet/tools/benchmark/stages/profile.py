"""Stage ``profile``: where the headline build's (ExecuTorch int8) time goes, and what the thread
policy and the lean runtime import are worth, each side measured now in fresh processes:

- ``upscale_patch`` per operator (ETDump, ``mossnet.tools.benchmark.profile``) and wall time per
  call seen from Python, with the runtime defaults (both thread pools as they start) and with
  the chosen count;
- the headline job with the runtime defaults (the chosen count's job is the ``latency`` stage's);
- RSS after importing only the runtime extension vs also ``executorch.runtime`` (which imports
  the export toolchain: what the runner used to import)."""
from __future__ import annotations

from ..methods import HEADLINE, Method
from ..rss import ChildError, run_child
from . import Settings, child_argv, chosen_threads

KIB = 1024 / 1e6


def run(s: Settings, methods: dict[str, Method], threads: dict, artifact: str | None, log) -> tuple[dict, list[str]]:
    m = methods.get(HEADLINE)
    if m is None or not m.timed or artifact is None:
        return {}, []
    n = chosen_threads(threads, m)
    out = {"method": HEADLINE, "chosen_threads": n}
    try:
        for side, count in (("defaults", None), ("chosen", n)):
            log(f"profile: {HEADLINE} ETDump, {side} threads")
            argv = [artifact, "--calls", "20" if s.quick else "50"] + (["--threads", str(count)] if count else [])
            out[f"profile_{side}"] = run_child(argv, module="mossnet.tools.benchmark.profile")
        log(f"profile: {HEADLINE} {s.headline} job, runtime defaults")
        r = run_child(child_argv(s, m, None, lr=s.headline_lr, mode="ram", repeat=s.runs, warmup=1))
        out["job_defaults_s"] = r["seconds"]
        for side, extra in (("lean", []), ("executorch_runtime", ["--extra-import", "executorch.runtime"])):
            r = run_child([*child_argv(s, m, n, job=False), *extra])
            out[f"rss_imported_{side}_mb"] = r["rss_imported_kib"] * KIB
    except ChildError as exc:
        return out, [f"profile: failed ({exc})"]
    return out, []
