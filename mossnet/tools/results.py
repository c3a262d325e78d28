"""Every table in README.md and docs/benchmarks.md, from the commands that measure it:
``python -m mossnet.tools.results collect|render|check``.

``collect [NAME ...]`` runs each measuring command as a user runs it (a fresh process, the
shipped weights, ``../shared``'s benchmark sets) and keeps its output in ``docs/results/NAME.md``
(``bench``: ``docs/results/bench.json``, written by the benchmark itself), with the command,
commit, machine and load in ``docs/results/index.json``. ``render`` rewrites every block
``<!-- results:NAME -->`` ... ``<!-- /results -->`` of the documents from those files; ``check``
fails when a document differs from what ``render`` would write (tests/test_results.py), so no
table can drift from its output. Collecting everything takes over an hour on the 2-core
development machine (each run's seconds are in index.json); name a few to refresh only those."""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mossnet.core.image_io import atomic_write
from mossnet.core.paths import REPO, SHARED_BENCHMARKS, SHARED_TRAIN

RESULTS = REPO / "docs" / "results"
DOCUMENTS = [REPO / "README.md", REPO / "docs" / "benchmarks.md"]
BLOCK = re.compile(r"(<!-- results:([\w:-]+) -->\n)(.*?)(<!-- /results -->)", re.S)
SETS = [str(SHARED_BENCHMARKS / s) for s in ("Set5", "Set14", "B100")]
XS, S = "weights/mossnet_xs_x4.pt", "weights/mossnet_s_x4.pt"


@dataclass(frozen=True)
class Source:
    name: str
    argv: tuple[str, ...]  # after "python -m"
    doc: str  # what the table shows
    timed: bool = True  # False: its run time means nothing (emulated CPUs)
    markdown: bool = False  # True: its whole output is Markdown (tables and the lines between)

    @property
    def command(self) -> str:
        return "python -m " + " ".join(a.replace(str(REPO.parent), "..") for a in self.argv)


SOURCES = [
    Source("info", ("mossnet.tools.info",), "parameters, FLOPs and receptive field of every variant"),
    Source("eval", ("mossnet.eval", "--data", *SETS), "float quality of the shipped XS"),
    Source("eval_teacher", ("mossnet.eval", "--ckpt", S, "--no-bicubic", "--data", *SETS), "the teacher's"),
    Source("flat_check", ("mossnet.tools.flat_check", XS, S, "--random-colours", "64"),
           "flat colours through the float models"),
    Source("flat_check_random", ("mossnet.tools.flat_check", XS, "artifacts/executorch/mossnet_xs_x4_int8-ptq.pte",
                                 "--random-colours", "512", "--random-seed", "7"),
           "the grid on 512 more random flat colours: a ridge of saturated blues"),
    Source("tiling", ("mossnet.tools.tiling_sweep", "--images", SETS[0]), "patch and halo sweep"),
    Source("ptq", ("quantize.ptq", XS), "int8 PTQ report"),
    Source("ptq_histogram", ("quantize.ptq", XS, "--observer", "histogram", "--out", "artifacts/ptq_histogram"),
           "PTQ with the histogram observer"),
    Source("ptq_steps", ("quantize.ablation", XS), "issue 20's PTQ steps, each alone and together: quality and grid"),
    Source("int8_flat_check", ("mossnet.tools.flat_check", XS, "artifacts/mossnet_xs_x4_int8_ptq",
                               "artifacts/mossnet_xs_x4_int8_qat", "artifacts/executorch/mossnet_xs_x4_int8-ptq.pte",
                               "--random-colours", "64"),
           "flat colours and grid: float, the int8 pipelines (PTQ, the default, and QAT), the default's .pte"),
    Source("qat", ("quantize.qat", XS, "--data", str(SHARED_TRAIN)), "int8 QAT report"),
    Source("targets", ("targets", "export-all"), "every artifact: size, parity, quality, latency"),
    Source("png", ("mossnet.tools.png_bench",), "which lossless writer: time and bytes against Pillow"),
    Source("coreml_fp16", ("targets.coreml", "fp16-range"),
           "Core ML artifacts in each of the interpreter's fp16 modes: the range and the bounds"),
    Source("e2e", ("mossnet.tools.e2e", "--json", "docs/results/e2e.json"),
           "every upscale command line end to end: wall, memory, imports, folder throughput", markdown=True),
    Source("arm_parity", ("targets", "arm-parity"), "ExecuTorch and LiteRT artifacts on emulated arm64 CPU models",
           timed=False),
]
BY_NAME = {s.name: s for s in SOURCES}


def table(output: str) -> str:
    """The Markdown table lines of a command's output (its header lines are prose for a terminal)."""
    lines = [line for line in output.splitlines() if line.startswith("|")]
    if not lines:
        raise SystemExit("error: the command printed no table")
    return "\n".join(lines)


def machine_line() -> str:
    from mossnet.tools.benchmark.machine import describe
    m = describe()
    return f"{m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB, {m['system']}"


def collect(names: list[str], python: str) -> None:
    index_path = RESULTS / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    if subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "mossnet", "quantize", "targets"], cwd=REPO).returncode:
        commit += " (with uncommitted changes)"
    for name in names:
        source = BY_NAME[name]
        print(f"== {name}: {source.command}", file=sys.stderr, flush=True)
        load, start = os.getloadavg(), time.perf_counter()
        proc = subprocess.run([python, "-m", *source.argv], cwd=REPO, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"error: {source.command} exited {proc.returncode}")
        table(proc.stdout)  # refuse an output with no table before keeping it
        atomic_write(RESULTS / f"{name}.md", lambda tmp: Path(tmp).write_text(proc.stdout))
        # re-read: another collect run may have written its own entries meanwhile
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
        index[name] = {"command": source.command, "commit": commit,
                       "seconds": round(time.perf_counter() - start) if source.timed else None,
                       "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": machine_line(),
                       "load_average_start": round(load[0], 2), "load_average_end": round(os.getloadavg()[0], 2)}
        atomic_write(index_path, lambda tmp: Path(tmp).write_text(json.dumps(index, indent=1) + "\n"))


def block(name: str) -> str:
    """What a results block holds: the table of a collected output, or the benchmark's."""
    if name == "bench" or name.startswith("bench:"):
        from mossnet.tools.benchmark.report import readme_block
        return readme_block(json.loads((RESULTS / "bench.json").read_text()), name)
    path = RESULTS / f"{name}.md"
    if not path.is_file():
        raise SystemExit(f"error: {path} missing; run `python -m mossnet.tools.results collect {name}`")
    text = path.read_text()
    return f"{text.strip() if BY_NAME[name].markdown else table(text)}\n\n{provenance(name)}"


def provenance(name: str) -> str:
    """One line under each table: where, when and under what load its command ran."""
    r = json.loads((RESULTS / "index.json").read_text())[name]
    return (f"<sub>`{r['command']}` at {r['commit']}, {r['date']}, {r['machine']}; load average "
            f"{r['load_average_start']} at start, {r['load_average_end']} at end"
            + (f"; {r['seconds']} s" if r.get("seconds") is not None else "") + ".</sub>")


def render(text: str) -> str:
    return BLOCK.sub(lambda m: f"{m.group(1)}{block(m.group(2))}\n{m.group(4)}", text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.results", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="run the measuring commands, keep their outputs")
    c.add_argument("names", nargs="*", metavar="NAME", help=f"default: all of {', '.join(BY_NAME)}")
    sub.add_parser("render", help="rewrite the results blocks of README.md and docs/benchmarks.md")
    sub.add_parser("check", help="fail if a document's results blocks differ from their outputs")
    args = p.parse_args(argv)
    if args.command == "collect":
        unknown = set(args.names) - set(BY_NAME)
        if unknown:
            p.error(f"unknown result {', '.join(sorted(unknown))}; choose from {', '.join(BY_NAME)}")
        if not SHARED_BENCHMARKS.is_dir():
            raise SystemExit(f"error: {SHARED_BENCHMARKS} not found: the tables are measured on ../shared's sets")
        collect(args.names or list(BY_NAME), sys.executable)
        args.command = "render"
    stale = []
    shown = lambda doc: str(doc.relative_to(REPO)) if doc.is_relative_to(REPO) else str(doc)  # noqa: E731
    for doc in DOCUMENTS:
        text = doc.read_text()
        new = render(text)
        if new != text:
            if args.command == "render":
                atomic_write(doc, lambda tmp: Path(tmp).write_text(new))
                print(f"rendered {shown(doc)}", file=sys.stderr)
            else:
                stale.append(shown(doc))
    if stale:
        print(f"error: {', '.join(stale)}: results blocks differ from docs/results "
              f"(run `python -m mossnet.tools.results render`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
