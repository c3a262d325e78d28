"""The benchmark's results as documents, from the results file alone (no measuring here):

- ``markdown(results)``: the whole report (``OUT/bench.md``);
- ``render_docs(results, text) -> text``: rewrites every ``<!-- results:bench:NAME -->`` ...
  ``<!-- /results -->`` block of a document (docs/benchmarks.md) with the table NAME;
- ``readme_block(results) -> str``: the README's benchmark table and the line saying where and
  under what load it was measured;
- ``write(results, out, files)``: bench.json (each of ``files``) and bench.md, atomically.

``python -m mossnet.tools.benchmark.report [--results docs/results/bench.json] [DOC ...]``
re-renders the documents (default docs/benchmarks.md) in place."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from mossnet.core.image_io import atomic_write

from . import tables
from .machine import summary_line

BLOCK = re.compile(r"(<!-- results:bench:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


def conditions(results: dict) -> list[str]:
    """Where, when, under what load, with what, how long: one paragraph."""
    s, c = results["settings"], results["checkpoint"]
    w, h = s["sizes"][s["headline"]]
    quick = " (**--quick**: a smoke test, not a measurement)" if s.get("quick") else ""
    return [f"Command: `{results['command']}`{quick}, {results.get('date', '?')}, wall time "
            f"{tables._f(results.get('wall_s'), '.0f')} s (stages: "
            + ", ".join(f"{k} {v:.0f} s" for k, v in results.get("stages_s", {}).items()) + ").  ",
            f"Machine: {summary_line(results['machine'], results['load'])}.  ",
            f"Versions: {', '.join(f'{k} {v}' for k, v in results['machine'].get('versions', {}).items())}.  ",
            f"Checkpoint: `{c['path']}` (SHA-256 {c['sha256'][:12]}…); {s['headline']} job = {w}x{h} -> x4, median "
            f"of {s['runs']} runs after 1 warm-up; per-call figures: median of {s['calls']} calls."
            + ("  " if subset(results) else ""), *subset(results)]


def subset(results: dict) -> list[str]:
    """A line naming the default methods this run did not measure (a subset run says so)."""
    from .methods import default_keys
    missing = [k for k in default_keys() if k not in results["methods"]]
    return [f"Not measured in this run (in the default set): {', '.join(f'`{k}`' for k in missing)}."] \
        if missing else []


def notes(results: dict) -> list[str]:
    return [f"- {n}" for n in results.get("notes", [])] or ["(none)"]


SECTIONS = {
    "conditions": conditions, "summary": tables.summary_table, "targets": tables.targets_table,
    "speed": tables.speed_table, "profile": tables.profile_table, "threads": tables.threads_table,
    "memory": tables.memory_table, "sweep": tables.sweep_table, "quality": tables.quality_table, "notes": notes,
}
TITLES = {"summary": "Summary", "targets": "Targets", "speed": "Speed and size",
          "profile": "ExecuTorch int8: runtime defaults vs the chosen threads, and where the time goes",
          "threads": "Thread count (fresh process per count; the fastest is used)",
          "memory": "Peak memory (each job in a fresh process)", "sweep": "Patch-size sweep",
          "quality": "Quality (x4, Y channel, 4 px shaved, MATLAB-bicubic LR)", "notes": "Notes"}


def section(results: dict, name: str) -> str:
    return "\n".join(SECTIONS[name](results)).rstrip() + "\n"


def render_docs(results: dict, text: str) -> str:
    """``text`` with every bench results block replaced by the current table (pure)."""
    def sub(m: re.Match) -> str:
        name = m.group("name")
        if name not in SECTIONS:
            raise KeyError(f"unknown results block {name!r}; known: {', '.join(SECTIONS)}")
        return m.group(1) + section(results, name) + m.group(4)
    return BLOCK.sub(sub, text)


def readme_block(results: dict, name: str = "bench") -> str:
    """The README's benchmark table, with where and under what load it was measured (pure; no
    trailing newline). ``name`` "bench:SECTION" gives that section instead (``SECTIONS``)."""
    if name.startswith("bench:"):
        return section(results, name.partition(":")[2]).rstrip("\n")
    m, load = results["machine"], results["load"]
    return "\n".join(tables.summary_table(results)) + (
        f"\n\n<sub>`{results['command']}`, {results.get('date', '?')}, {m['cpu']}, {m['cpus']} CPUs; load average "
        f"{load['load_average_start'][0]:.2f} at start, {load['load_average_end'][0]:.2f} at end (other processes used "
        f"{tables._f(load.get('other_processes_cpus'), '.2f', '?')} CPUs on average); {results.get('wall_s', 0):.0f} s."
        + "".join(f" {line}" for line in subset(results)) + "</sub>")


def markdown(results: dict) -> str:
    parts = ["# MossNet benchmark", "", *conditions(results), ""]
    for name, title in TITLES.items():
        parts += [f"## {title}", *SECTIONS[name](results), ""]
    return "\n".join(parts).rstrip() + "\n"


def write(results: dict, out: Path, files: list[Path] | None = None) -> None:
    text = json.dumps(results, indent=1, default=str) + "\n"
    for path in files or [out / "bench.json"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "bench.md", lambda tmp: Path(tmp).write_text(markdown(results)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.benchmark.report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="docs/results/bench.json")
    p.add_argument("docs", nargs="*", default=["docs/benchmarks.md"])
    args = p.parse_args(argv)
    results = json.loads(Path(args.results).read_text())
    for doc in map(Path, args.docs):
        new = render_docs(results, doc.read_text())
        atomic_write(doc, lambda tmp, text=new: Path(tmp).write_text(text))
        print(f"rendered {doc} from {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
