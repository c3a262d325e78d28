"""How many CPU threads a runtime gets when nobody says: one policy for every upscale command
line and ``mossnet.load``.

The benchmark's ``threads`` stage (``python -m mossnet.tools.bench``) times each runtime at
1..CPUs threads, each count in a fresh process, and records the fastest for this machine in
``threads.json`` under the machine's cache (``mossnet.core.paths.cache_root``). Without a record
for this machine the rule is all CPUs. (It was all CPUs but one while the streaming PNG
encoder's filter cost as much as its deflate: then one runtime thread beat two on a 2-CPU
machine. With the filter in uint8, two beat one for every command, 3 to 16 %, timed by hand
with ``mossnet.tools.e2e``'s own runs, docs/benchmarks.md.) ``--threads`` always wins."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from mossnet.core.atomic import atomic_write
from mossnet.core.paths import cache_root


def policy_file() -> Path:
    return cache_root() / "threads.json"


def machine_key() -> str:
    """What makes a measured count valid elsewhere: the CPU model and how many CPUs we have."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model} x{os.cpu_count() or 1}"


def rule() -> int:
    return os.cpu_count() or 1


def recorded() -> dict[str, int]:
    """{runtime: threads} the benchmark measured on this machine ({} when it never ran here)."""
    try:
        entry = json.loads(policy_file().read_text()).get(machine_key(), {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: v for k, v in entry.get("threads", {}).items() if isinstance(v, int) and v >= 1}


def default_threads(runtime: str) -> tuple[int, str]:
    """(count, where it came from) for a runtime name of ``targets.registry``."""
    measured = recorded().get(runtime)
    if measured is not None:
        return measured, f"measured by the benchmark on this machine ({policy_file()})"
    return rule(), "rule: all CPUs"


def record(chosen: dict[str, int], measured_by: str) -> Path:
    """Keep the benchmark's choice for this machine (other machines' entries stay)."""
    path = policy_file()
    try:
        data = json.loads(path.read_text())
        data = data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        data = {}
    data[machine_key()] = {"threads": {k: int(v) for k, v in chosen.items() if v}, "measured_by": measured_by}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=1) + "\n"))
    return path
