"""``python -m mossnet.tools.benchmark.peak REPORT MODULE [ARGS ...]``: run ``python -m MODULE
ARGS`` in this very process and, at exit, write its peak resident memory (``VmHWM``) and exit
code to REPORT as JSON.

Why a wrapper: the peak a parent can read for a child (``ru_maxrss``) includes the parent's own
high-water mark, carried over at exec (see ``rss.py``); ``VmHWM`` is the exec'd process's own.
Only the standard library is imported before MODULE, so the wall time the parent measures is the
command's."""
import atexit
import json
import re
import runpy
import sys


def main() -> None:
    report, module, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    code = [0]

    def write() -> None:
        with open("/proc/self/status") as f:
            hwm = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
        with open(report, "w") as f:
            json.dump({"peak_kib": hwm, "exit": code[0]}, f)

    atexit.register(write)
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code[0] = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        raise


if __name__ == "__main__":
    main()
