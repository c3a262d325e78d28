"""Open an artifact in a child process first, for runtimes whose loaders are native code.

ExecuTorch's and LiteRT's loaders are C++: a file that passes every check we can make in
Python may still abort the process (a garbage ``.pte`` whose hash was re-signed ended in
``terminate``, exit 134). So the first time an artifact is opened, a child process
(``python -m targets.probe RUNTIME PATH``) loads it and reports what its programs declare
(``Runtime.declare``); if the child dies, the user gets one line and the parent lives. What
the child declared is cached by the artifact's SHA-256 (content-addressed, so an edited file
is probed again) under ``$MOSSNET_CACHE`` (default ``~/.cache/mossnet``), so later opens cost
nothing. The child's stderr (cpuinfo warnings and the like) is only shown when it fails."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from mossnet.core.atomic import atomic_write
from mossnet.core.paths import cache_root

PROBE_TIMEOUT_S = 300
CACHE_VERSION = 1


def cache_dir() -> Path:
    return cache_root() / "probed"


def _cache_file(runtime: str, sha: str) -> Path:
    return cache_dir() / f"{runtime}-{sha}-v{CACHE_VERSION}.json"


def declared_in_child(runtime, path: Path, sha: str) -> dict:
    """What ``runtime.declare(path)`` returns, computed in a child process (or the cache)."""
    from .runtime import ExportError
    cached = _cache_file(runtime.name, sha)
    try:
        return json.loads(cached.read_text())
    except (OSError, ValueError):
        pass
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    try:
        proc = subprocess.run([sys.executable, "-m", "targets.probe", runtime.name, str(path)],
                              capture_output=True, text=True, errors="replace", env=env, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ExportError(f"{path}: {runtime.label} did not finish loading it in {PROBE_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "cpuinfo" not in ln]
        if proc.returncode < 0:
            why = f"the runtime crashed loading it ({signal.Signals(-proc.returncode).name})"
        else:
            why = lines[-1].removeprefix("error: ").removeprefix(f"{path}: ") if lines else f"exit {proc.returncode}"
        raise ExportError(f"{path}: not a valid {runtime.label} program: {why[:300]}")
    declared = json.loads(proc.stdout)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cached, lambda tmp: Path(tmp).write_text(json.dumps(declared)))
    except OSError:  # a read-only home: probe again next time
        pass
    return declared


def main(argv=None) -> int:
    """Child side: load the artifact in this process and print what it declares as JSON."""
    from mossnet.core.errors import run_cli

    from . import registry
    runtime_name, path = (argv or sys.argv[1:])[:2]

    def body() -> int:
        print(json.dumps(registry.get(runtime_name).declare(Path(path))))
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
