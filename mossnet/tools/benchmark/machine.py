"""What the numbers were measured on: CPU (lscpu), memory, load, versions, and whether other
heavy processes (e.g. ``mossnet.train``) shared the cores while the benchmark ran."""
from __future__ import annotations

import os
import platform
import subprocess
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


def other_jobs() -> list[str]:
    """Command lines of other running processes that look like training or benchmarks."""
    jobs, me = [], os.getpid()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if int(proc.name) in (me, os.getppid()):
                continue
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "mossnet.train" in cmd or "quantize.qat" in cmd:
            jobs.append(cmd[:160])
    return sorted(jobs)


def memory_gib() -> float | None:
    try:
        kib = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1])
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
            "load_average_start": [round(x, 2) for x in os.getloadavg()],
            "concurrent_jobs": other_jobs(), "versions": versions()}


def summary_line(m: dict) -> str:
    jobs = len(m.get("concurrent_jobs", []))
    shared = (f"; {jobs} training job(s) shared the cores (load average {m['load_average_start'][0]:.1f} "
              f"at start, {m.get('load_average_end', ['?'])[0]} at end)") if jobs else \
        f"; load average {m['load_average_start'][0]:.1f} at start"
    return f"{m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB, {m['system']}{shared}"
