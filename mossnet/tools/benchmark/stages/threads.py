"""Stage ``threads``: one thread policy for every runtime.

Per runtime (PyTorch, ExecuTorch, LiteRT, ...; those with ``timed`` False have no meaningful
speed here and are skipped), one of its methods is measured at each thread count 1..CPUs, each
count in a fresh process where the count is applied with ``Runtime.set_threads`` before the
model is loaded (ExecuTorch's XNNPACK pool cannot be resized once a program ran, so every
runtime is measured this way alike). The fastest count is chosen; every later stage passes it
to ``set_threads`` again (in its own children, and in this process before quality). On a
shared machine an oversubscribed pool can be many times slower than one thread, which is why
the count is measured rather than assumed. The choice is recorded for this machine
(``targets.threads``): every upscale command line applies it by default."""
from __future__ import annotations

from ..methods import Method, load
from ..rss import ChildError, run_child
from . import Settings, child_argv

SMALL_LR = (160, 90)  # whole-image methods: ms per image of this size instead of per call


def representative(methods: dict[str, Method], keys: list[str]) -> str:
    """The method a runtime's count is measured with: its default build if selected, else its
    first tiled method, else its first."""
    rt = methods[keys[0]].threads_by
    default = f"{rt.name}:{rt.default_precision}"
    tiled = [k for k in keys if methods[k].tiled]
    return default if default in keys else (tiled or keys)[0]


def by_runtime(methods: dict[str, Method]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, m in methods.items():
        if m.timed and m.threads_by is not None:
            out.setdefault(m.threads_by.name, []).append(key)
    return out


def measure(s: Settings, m: Method, n: int) -> float:
    """Per-call ms (tiled) or ms per SMALL_LR image (whole image), in a fresh process."""
    if m.tiled:
        return run_child(child_argv(s, m, n, calls=s.calls, job=False))["call_ms"]
    r = run_child(child_argv(s, m, n, lr=SMALL_LR, repeat=3, warmup=1))
    return 1e3 * r["seconds"]


def run(s: Settings, methods: dict[str, Method], log) -> tuple[dict, list[str]]:
    """({runtime: {chosen, ms: {count: ms}, measured_with, unit, how}}, notes)."""
    out, notes = {}, []
    for name, keys in by_runtime(methods).items():
        key = representative(methods, keys)
        if s.threads:
            out[name] = {"chosen": s.threads, "how": "--threads", "applies_to": keys}
            continue
        ms = {}
        for n in range(1, s.cpus + 1):
            log(f"threads: {name} ({key}) {n} thread(s), fresh process")
            try:
                ms[n] = measure(s, methods[key], n)
            except ChildError as exc:
                notes.append(f"threads {key} {n}: failed ({exc})")
        chosen = min(ms, key=ms.get) if ms else None
        out[name] = {"chosen": chosen, "ms": ms, "measured_with": key, "applies_to": keys,
                     "unit": "ms per upscale_patch call" if methods[key].tiled else
                     f"ms per {SMALL_LR[0]}x{SMALL_LR[1]} LR image",
                     "how": f"fastest of 1..{s.cpus}, each in a fresh process, applied with "
                            f"{type(methods[key].threads_by).__name__}.set_threads"}
    chosen = {name: row["chosen"] for name, row in out.items() if row.get("ms")}
    if chosen and not s.quick:  # what the command lines apply by default from now on (targets.threads)
        from targets.threads import record
        log(f"threads: recorded {chosen} in {record(chosen, 'python -m mossnet.tools.bench')}")
    return out, notes


def apply(threads: dict, methods: dict[str, Method]) -> dict[str, str]:
    """Apply the chosen counts in this process (before it loads any model); what each did."""
    done = {}
    for m in methods.values():
        rt = m.threads_by
        if rt is not None and rt.name in threads and rt.name not in done:
            done[rt.name] = rt.set_threads(threads[rt.name].get("chosen"))
    return done


def load_all(s: Settings, methods: dict[str, Method], log) -> tuple[dict, list[str]]:
    """Every method loaded in this process (for quality and the grid), after ``apply``."""
    loaded, notes = {}, []
    for key, m in methods.items():
        try:
            loaded[key] = load(m, s.ckpt, s.root)
        except Exception as exc:  # noqa: BLE001 - report, go on
            notes.append(f"{m.label}: not loaded ({type(exc).__name__}: {str(exc)[:200]})")
            log(notes[-1])
    return loaded, notes
