"""What the numbers were measured on (CPU, memory, versions) and under what load: the load
average at start and end, sampled during the run, and the CPU time other processes took from
the machine while the benchmark ran (all busy CPU time from /proc/stat minus the benchmark's
own, children included)."""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def lscpu() -> dict:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    keep = ("Model name", "CPU(s)", "Thread(s) per core", "L2 cache", "L3 cache", "Hypervisor vendor")
    return {k: fields[k].strip() for k in keep if k in fields}


def memory_gib() -> float | None:
    try:
        kib = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        return round(kib / 2 ** 20, 1)
    except (OSError, StopIteration, ValueError):
        return None


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "executorch", "ai-edge-litert", "coremltools", "numpy", "pillow"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def describe() -> dict:
    cpu = lscpu()
    return {"cpu": cpu.get("Model name", platform.processor() or platform.machine()),
            "cpus": int(cpu.get("CPU(s)", os.cpu_count() or 1)), "lscpu": cpu,
            "memory_gib": memory_gib(), "system": f"{platform.system()} {platform.release()}",
            "versions": versions()}


def busy_cpu_s() -> float | None:
    """CPU seconds the whole machine spent busy since boot (/proc/stat, all but idle and iowait)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class LoadMonitor:
    """Samples the 1-minute load average every ``every`` seconds from start to ``stop``."""

    def __init__(self, every: float = 15.0):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self.start_load = [round(x, 2) for x in os.getloadavg()]
        self._t0, self._busy0, self._own0 = time.monotonic(), busy_cpu_s(), own_cpu_s()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(round(os.getloadavg()[0], 2))

    def stop(self) -> dict:
        self._stop.set()
        wall, busy = time.monotonic() - self._t0, busy_cpu_s()
        s = sorted(self.samples) or [round(os.getloadavg()[0], 2)]
        others = None if busy is None or self._busy0 is None else \
            max(0.0, (busy - self._busy0) - (own_cpu_s() - self._own0)) / wall
        return {"load_average_start": self.start_load, "load_average_end": [round(x, 2) for x in os.getloadavg()],
                "load_1min_sampled": {"every_s": self.every, "min": s[0], "median": s[len(s) // 2], "max": s[-1]},
                "other_processes_cpus": None if others is None else round(others, 2),
                "benchmark_cpus": round((own_cpu_s() - self._own0) / wall, 2)}


def summary_line(m: dict, load: dict) -> str:
    sampled = load.get("load_1min_sampled", {})
    others = load.get("other_processes_cpus")
    return (f"{m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB, {m['system']}; load average (1 min) "
            f"{load['load_average_start'][0]:.2f} at start, {load['load_average_end'][0]:.2f} at end, "
            f"{sampled.get('min', 0):.2f}-{sampled.get('max', 0):.2f} during the run (median "
            f"{sampled.get('median', 0):.2f})" + ("" if others is None else
                                                  f"; other processes used {others:.2f} CPUs on average"))
