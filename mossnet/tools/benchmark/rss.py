"""Fresh processes for every measurement, and peak resident memory of one job, measured in a
fresh process so jobs cannot pollute each other.

The child (``mossnet.tools.benchmark.child``) reads ``VmRSS`` / ``VmHWM`` from /proc/self/status and
resets the high-water mark (``echo 5 > /proc/self/clear_refs``) after loading, so it reports the
runtime's baseline and the job's own peak separately.

Not used: ``ru_maxrss`` of the child (``getrusage(RUSAGE_CHILDREN)`` or ``os.wait4``). Linux
carries the forking parent's high-water mark into the child at exec, so from a 500 MB
benchmark process every child "peaked" at 500 MB, even one that only resized an image
(measured)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile


def status_kib() -> dict[str, int]:
    """{"rss": VmRSS, "hwm": VmHWM} of this process in KiB."""
    text = open("/proc/self/status").read()
    return {key.lower(): int(re.search(rf"{name}:\s+(\d+)", text).group(1))
            for key, name in (("rss", "VmRSS"), ("hwm", "VmHWM"))}


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class ChildError(RuntimeError):
    pass


def run_child(args: list[str], timeout: float | None = None, module: str = "mossnet.tools.benchmark.child",
              show_stderr: bool = False) -> dict:
    """Run ``python -m MODULE ARGS`` (default the measuring child) in a fresh process; the JSON
    object on the last line of its stdout. ``show_stderr``: let its progress through."""
    cmd = [sys.executable, "-m", module, *args]
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None if show_stderr else err, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ChildError(f"{' '.join(cmd[2:])}: no result after {timeout:.0f} s") from None
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        out = proc.stdout
    if proc.returncode != 0:
        tail = " | ".join(line for line in stderr.strip().splitlines()[-3:])
        raise ChildError(f"{' '.join(cmd[2:])}: exit {proc.returncode}: {tail}")
    lines = out.decode().strip().splitlines()
    if not lines:
        raise ChildError(f"{' '.join(cmd[2:])}: no report on stdout")
    return json.loads(lines[-1])
