"""``python -m targets arm-parity``: every ExecuTorch and LiteRT artifact (float and int8) run by
the aarch64 builds of the pinned runtimes under qemu user emulation, on several emulated CPU
models, against the x86-64 run of the same artifact and against its reference.

1. The artifact store (``targets.store``) builds or reuses the four artifacts of the checkpoint
   (ExecuTorch fp32 and int8-ptq, LiteRT fp32 and int8).
2. The inputs are cut exactly as the tiled pipeline cuts them (``mossnet.core.tiling``): per
   image its thumbnail and the inputs of the tiles of its plan. Images: the two parity images
   (``targets.parity``; every tile) and two conformance-style odd sizes whose edge tiles read
   mostly replicated pixels (noise 37x90: 1x2 tiles, 27 of their 64 rows replicated; noise
   65x129, a size of the conformance vectors' plans: 2x3 tiles, the last row and column owning
   one pixel each). int8 artifacts
   run every tile of every image; fp32 ones (about 8x slower under emulation) every tile of the
   first parity image and of the 37x90 image and the bottom-right tile of the others
   (``--all-tiles``: every tile).
3. ``env.sh`` builds (once, cached) or finds the emulated environment; then ONE guest process per
   CPU model runs every artifact (``guest.py``, a job file), ``--jobs`` of them at a time.
4. The guest's per-tile outputs are stitched back into images by replaying them through
   ``upscale_tiled`` (its tile plan and ownership, so nothing is re-implemented here); the same
   is done with the x86-64 run of the same calls. Per CPU model x artifact: the share of
   bit-identical float32 output values against x86-64, the PSNR (peak 1, clipped outputs) of
   every image against the reference (float PyTorch for fp32, the int8 PyTorch program for int8),
   and pass when the lowest is at least the precision's bound (``Precision.parity_bound_db``).

Writes ``docs/results/arm_parity.json`` (``--json``), prints one Markdown table, then the last
line ``N passed, N failed`` (one check per CPU model x artifact). Exit 0 only if all passed; if
the environment or the artifacts cannot be made: one ``error:`` line, ``0 passed, 0 failed``,
exit 1. No emulated timings are reported: emulated speed says nothing about phones."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mossnet.core.errors import UserError
from mossnet.core.hashing import sha256
from mossnet.core.image_io import atomic_write
from mossnet.core.paths import DEFAULT_CHECKPOINT, EXAMPLES, REPO
from mossnet.core.tiling import (
    TilingConfig,
    extract_patch,
    make_thumbnail,
    plan_tiles,
    to_model_input,
    upscale_tiled,
)

from .. import registry
from ..parity import PSNR_CAP, output_psnr, parity_images, recheck_images
from ..runtime import Precision, Programs, Runtime
from ..store import ArtifactStore

HERE = Path(__file__).resolve().parent
ENV_SH, GUEST = HERE / "env.sh", HERE / "guest.py"
DEFAULT_JSON = REPO / "docs" / "results" / "arm_parity.json"
COMMAND = "python -m targets arm-parity"
FORMAT, FORMAT_VERSION = "mossnet-arm-parity", 1
BUILDS = ("executorch:fp32", "executorch:int8-ptq", "tflite:fp32", "tflite:int8")
LABELS = {"executorch": "ExecuTorch", "tflite": "LiteRT"}
# Phone generations: Cortex-A53 (ARMv8.0, no dot product: low-end), Cortex-A76 (v8.2 + dot
# product: 2018-2020 flagships, today's mid-range), Neoverse-N2 (v9.0: SVE2 + i8mm + bf16, the
# core family of Cortex-A710/X2 phones), max (everything qemu has, SME/SME2 included: the
# 2024-2025 Armv9.2 cores).
DEFAULT_CPUS = ("cortex-a53", "cortex-a76", "neoverse-n2", "max")
# XNNPACK arch flags every aarch64 CPU has; the table names only what comes on top.
BASELINE_FAMILIES = {"arm_v6", "arm_vfpv2", "arm_vfpv3", "arm_neon", "arm_neon_fma", "arm_neon_v8"}
FAMILY_NAMES = {"arm_neon_fp16": "fp16 conversion", "arm_fp16_arith": "fp16 arith", "arm_neon_fp16_arith": None,
                "arm_neon_bf16": "bf16", "arm_neon_dot": "dot", "arm_neon_i8mm": "i8mm", "arm_sve": "SVE",
                "arm_sve2": "SVE2", "arm_sme": "SME", "arm_sme2": "SME2"}
ISA_CHECKED = {"dot": "arm_neon_dot", "i8mm": "arm_neon_i8mm", "bf16": "arm_neon_bf16", "sve": "arm_sve",
               "sve2": "arm_sve2", "sme": "arm_sme", "sme2": "arm_sme2"}


def log(msg: str) -> None:
    print(f"[arm-parity] {msg}", file=sys.stderr, flush=True)


# ---- inputs: the calls the tiled pipeline makes ------------------------------------------------

@dataclass(frozen=True)
class Case:
    name: str
    image: np.ndarray  # HxWx3 uint8
    float_tiles: str  # "all" or "corner": which tiles fp32 artifacts run (int8: always all)

    def plan(self, t: TilingConfig):
        return plan_tiles(*self.image.shape[:2], t)

    def tiles(self, t: TilingConfig, precision: Precision, all_tiles: bool = False) -> list[int]:
        """Indices into the tile plan that an artifact of ``precision`` runs."""
        n = len(self.plan(t))
        if precision.quantized_by or all_tiles or self.float_tiles == "all":
            return list(range(n))
        return [n - 1]  # the bottom-right tile: its input is the most edge-replicated


def default_cases() -> list[Case]:
    parity = parity_images()
    noise37 = next(im for name, im in recheck_images() if name.startswith("uniform noise"))
    noise65 = np.random.default_rng(18).integers(0, 256, (65, 129, 3), dtype=np.uint8)
    return [Case(parity[0][0], parity[0][1], "all"),
            Case(parity[1][0], parity[1][1], "corner"),
            Case("uniform noise 37x90, seed 3 (1x2 tiles, 27 of 64 rows replicated)", noise37, "all"),
            Case("uniform noise 65x129, seed 18 (2x3 tiles, last row / column own 1 pixel)", noise65, "corner")]


def tile_inputs(image: np.ndarray, t: TilingConfig, tiles: list[int]) -> dict[str, np.ndarray]:
    """guest.py's INPUTS layout: the thumbnail and the chosen tiles' inputs, as upscale_tiled
    makes them (``thumb`` (1, 3, T, T), ``patches`` (N, 1, 3, P, P) float32)."""
    plan = plan_tiles(*image.shape[:2], t)
    patches = [to_model_input(extract_patch(image, plan[i], t)) for i in tiles]
    return {"thumb": make_thumbnail(image, t), "patches": np.stack(patches).astype(np.float32)}


def run_calls(programs: Programs, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The guest's calls (``guest.run_job``) run in this process: the x86-64 run."""
    context_fn, patch_fn = programs
    modulation = np.asarray(context_fn(inputs["thumb"]), dtype=np.float32)
    hr = np.stack([np.asarray(patch_fn(p, modulation), dtype=np.float32) for p in inputs["patches"]])
    return {"modulation": modulation, "hr": hr}


def stitch(image: np.ndarray, t: TilingConfig, tiles: list[int], outputs: dict[str, np.ndarray],
           inputs: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The float (sH, sW, 3) image ``upscale_tiled`` makes from per-tile outputs (``hr[j]`` of
    tile ``tiles[j]``), replayed through its own plan and ownership; pixels owned by tiles not
    run are NaN. ``inputs``: also check that upscale_tiled asks for exactly the inputs sent."""
    hr = np.asarray(outputs["hr"])
    if hr.shape[0] != len(tiles):
        raise ValueError(f"{hr.shape[0]} tile outputs for {len(tiles)} tiles")
    by_tile = dict(zip(tiles, hr))
    blank = np.full((1, 3, t.output_size, t.output_size), np.nan, dtype=np.float32)
    calls = iter(range(len(plan_tiles(*image.shape[:2], t))))

    def context_fn(thumb):
        if inputs is not None and not np.array_equal(thumb, inputs["thumb"]):
            raise AssertionError("the thumbnail sent differs from the pipeline's")
        return outputs["modulation"]

    def patch_fn(x, modulation):
        i = next(calls)
        if i not in by_tile:
            return blank
        if inputs is not None and not np.array_equal(x, inputs["patches"][tiles.index(i)]):
            raise AssertionError(f"tile {i}: the input sent differs from the pipeline's")
        return by_tile[i]
    return upscale_tiled(image, context_fn, patch_fn, t, as_float=True)


def compare(out: np.ndarray, x86: np.ndarray, reference: np.ndarray) -> dict:
    """On the pixels ``out`` has (the tiles run): bit-identical values against the x86 run,
    PSNR against the reference and the x86 run's own PSNR against it."""
    have = ~np.isnan(out)
    a, b, r = out[have], x86[have], reference[have]
    finite = bool(np.isfinite(a).all())
    return {"values": int(a.size), "identical": int(np.sum(a.view(np.uint32) == b.view(np.uint32))),
            "psnr_db": round(output_psnr(a, r), 2) if finite else None,
            "x86_psnr_db": round(output_psnr(b, r), 2), "finite": finite}


# ---- checks ------------------------------------------------------------------------------------

def check(artifact: dict, per_case: dict[str, dict] | None, error: str | None) -> dict:
    """One CPU model x artifact: pass when every image ran, its output is finite and the lowest
    PSNR against the reference is at least the bound."""
    result = {"artifact": artifact["key"], "bound_db": artifact["bound_db"], "error": error}
    if per_case:
        values = sum(c["values"] for c in per_case.values())
        psnrs = [c["psnr_db"] for c in per_case.values()]
        result.update(identical_share=round(sum(c["identical"] for c in per_case.values()) / values, 6),
                      min_psnr_db=None if None in psnrs else min(psnrs),
                      images={name: {"identical_share": round(c["identical"] / c["values"], 6),
                                     "psnr_db": c["psnr_db"]} for name, c in per_case.items()})
        if result["min_psnr_db"] is None and not error:
            result["error"] = "non-finite output values"
    elif not error:
        result["error"] = "no outputs"
    result["passed"] = bool(not result["error"] and result["min_psnr_db"] >= artifact["bound_db"])
    return result


def tally(report: dict) -> tuple[int, int]:
    checks = [r for cpu in report["cpus"] for r in cpu["results"]]
    passed = sum(r["passed"] for r in checks)
    return passed, len(checks) - passed


def closing_line(passed: int, failed: int) -> str:
    return f"{passed} passed, {failed} failed"


def kernel_families(cpu: dict | None) -> dict:
    """What the runtimes see of the emulated CPU (guest.py's ``cpu`` report): the XNNPACK arch
    flags LiteRT's XNNPACK chose its kernel families from, and the cpuinfo ISA that ExecuTorch's
    XNNPACK copy reads (its hardware config is not in its symbol table)."""
    if not cpu:
        return {}
    lit = cpu.get("litert_xnnpack_hardware_config") or {}
    et = next((c for c in cpu.get("cpuinfo") or [] if c.get("library", "").startswith("libexecutorch")), {})
    isa = et.get("isa") or {}
    families = lit.get("families") or []
    out = {"hwcap": cpu.get("hwcap"), "hwcap2": cpu.get("hwcap2"),
           "torch_cpu_capability": cpu.get("torch_cpu_capability"),
           "litert_xnnpack_arch_flags": lit.get("arch_flags"), "litert_xnnpack_families": families,
           "litert_xnnpack_uarch": (lit.get("uarch") or [None])[0],
           "executorch_cpuinfo_isa": isa.get("flags"), "executorch_svelen_bytes": isa.get("svelen_bytes"),
           "executorch_smelen_bytes": isa.get("smelen_bytes")}
    if families and isa.get("flags") is not None:  # do both XNNPACK copies see the same CPU?
        out["executorch_cpuinfo_disagrees_on"] = sorted(k for k, f in ISA_CHECKED.items()
                                                        if (k in isa["flags"]) != (f in families))
    return out


def families_cell(k: dict) -> str:
    fams = k.get("litert_xnnpack_families")
    if not fams:
        return "?"
    extra = [FAMILY_NAMES.get(f, f.removeprefix("arm_")) for f in fams if f not in BASELINE_FAMILIES]
    return "NEON" + "".join(f", {e}" for e in extra if e)


# ---- the run -----------------------------------------------------------------------------------

class Environment:
    """env.sh in the background (a cold build downloads while the artifacts are built); its
    progress goes to stderr as it comes, its error line becomes the one error of the command."""

    def __init__(self):
        self.proc = subprocess.Popen(["bash", str(ENV_SH)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.errors: list[str] = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self) -> None:
        for line in self.proc.stderr:
            if "error:" in line:
                self.errors.append(line.strip())
            else:
                sys.stderr.write(line)

    def path(self) -> Path:
        """The environment's path, once env.sh is done."""
        out = self.proc.stdout.read()
        rc = self.proc.wait()
        self.pump.join()
        if rc != 0 or not out.strip():
            why = self.errors[-1] if self.errors else f"env.sh exited {rc}"
            raise UserError(f"the arm64 environment could not be built: {why}")
        return Path(out.strip().splitlines()[-1])

    def stop(self) -> None:
        if self.proc.poll() is None:  # a killed build leaves only its .partial folder (env.sh)
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait()


def environment_versions(env: Path) -> dict:
    """The resolved versions that matter (env.sh's versions.txt), for the results file."""
    out = {}
    try:
        lines = (env / "versions.txt").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if line.startswith("deb qemu-user"):
            out["qemu-user"] = parts[2]
        elif line.startswith("deb python3.11 "):
            out["python"] = parts[2]
        elif line.startswith("wheel "):
            name, _, ver = parts[1].partition("==")
            if name in ("torch", "executorch", "ai-edge-litert", "ai_edge_litert", "numpy"):
                out[name.replace("_", "-")] = ver
        elif line.startswith("stamp "):
            out["stamp"] = parts[1]
    return out


def run_guests(env: Path, job_files: dict[str, Path], parallel: int, timeout: float) -> dict[str, tuple]:
    """One guest process per CPU model, ``parallel`` at a time: {cpu: (report or None, error)}.
    ``max`` starts first: with SME on, its fp32 runs take several times longer under qemu than
    on the other models (the longest guest, so it should not start last)."""
    pending, running, done = sorted(job_files.items(), key=lambda item: item[0] != "max"), {}, {}
    while pending or running:
        while pending and len(running) < parallel:
            cpu, job = pending.pop(0)
            out, err = open(job.with_suffix(".stdout"), "w"), open(job.with_suffix(".stderr"), "w")  # noqa: SIM115
            proc = subprocess.Popen([str(env / "bin" / "guest-python"), str(GUEST), str(job)], stdout=out, stderr=err,
                                    env={**os.environ, "QEMU_CPU": cpu})
            running[cpu] = (proc, job, out, err, time.monotonic())
            log(f"guest started: QEMU_CPU={cpu}")
        time.sleep(0.5)
        for cpu, (proc, job, out, err, started) in list(running.items()):
            if proc.poll() is None and time.monotonic() - started < timeout:
                continue
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()
            err.close()
            del running[cpu]
            done[cpu] = _guest_result(proc.returncode, job, timeout)
            log(f"guest finished: QEMU_CPU={cpu}" + (f" ({done[cpu][1]})" if done[cpu][1] else ""))
    return done


def _guest_result(rc: int, job: Path, timeout: float) -> tuple[dict | None, str | None]:
    try:
        report = json.loads(job.with_suffix(".stdout").read_text())
    except (OSError, ValueError):
        report = None
    if report is not None:
        return report, None
    tail = [line for line in job.with_suffix(".stderr").read_text(errors="replace").splitlines()
            if line.strip() and "cpuinfo" not in line and "MIDR" not in line][-1:]
    why = f"timed out after {timeout:.0f} s" if rc in (-9, 137) else f"guest exited {rc}"
    return None, why + (f": {tail[0][:200]}" if tail else "")


@dataclass
class Artifact:
    key: str
    runtime: Runtime
    precision: Precision
    path: Path

    def describe(self) -> dict:
        if not hasattr(self, "_described"):
            self._described = {"key": self.key, "runtime": self.runtime.name, "precision": self.precision.name,
                               "file": self.path.name, "sha256": sha256(self.path),
                               "reference": self.precision.reference, "bound_db": self.precision.parity_bound_db}
        return self._described


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=COMMAND, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ckpt", default=str(DEFAULT_CHECKPOINT), help="checkpoint (default: the shipped weights)")
    p.add_argument("--store", default="artifacts", help="artifact store root (default artifacts)")
    p.add_argument("--eval", nargs="+", default=[str(EXAMPLES)], metavar="DIR",
                   help="only if the store must build the int8 pipeline: the images of its quality report "
                        "(default examples/, quick)")
    p.add_argument("--cpus", nargs="+", default=list(DEFAULT_CPUS), metavar="CPU",
                   help=f"qemu -cpu models (default {' '.join(DEFAULT_CPUS)}; list: qemu-aarch64 -cpu help)")
    p.add_argument("--only", nargs="+", default=list(BUILDS), choices=BUILDS, metavar="RUNTIME:PRECISION",
                   help=f"a subset of {' '.join(BUILDS)}")
    p.add_argument("--all-tiles", action="store_true", help="fp32 artifacts run every tile of every image too")
    p.add_argument("--jobs", type=int, default=min(len(DEFAULT_CPUS), os.cpu_count() or 1),
                   help="guest processes at a time (default: the CPU count, at most one per CPU model)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per guest process (default 1800)")
    p.add_argument("--json", default=str(DEFAULT_JSON), help="results file (default docs/results/arm_parity.json)")
    p.add_argument("--keep", default=None, metavar="DIR", help="keep inputs, job files and guest outputs in DIR")


def run(args) -> int:
    try:
        report = measure(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(closing_line(0, 0))
        return 1
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=1) + "\n"))
    log(f"wrote {out}")
    print(markdown(report))
    passed, failed = tally(report)
    print(closing_line(passed, failed))
    return 0 if failed == 0 else 1


def measure(args) -> dict:
    store = ArtifactStore(args.store, eval_dirs=args.eval)
    environment = Environment()
    try:
        artifacts = []
        for key in args.only:
            rt, precision = registry.build(key)
            built = store.ensure(rt, precision, args.ckpt)
            log(f"{key}: {built}")
            artifacts.append(Artifact(key, rt, precision, built.path))
        env = environment.path()
    finally:
        environment.stop()
    log(f"environment: {env}")
    x86 = {a.key: a.runtime.open(a.path) for a in artifacts}
    tilings = {up.tiling for up in x86.values()}
    if len(tilings) != 1:
        raise UserError(f"the artifacts were built for different tilings: {tilings}")
    t = tilings.pop()
    cases = default_cases()
    tiles = {(a.key, c.name): c.tiles(t, a.precision, args.all_tiles) for a in artifacts for c in cases}

    with tempfile.TemporaryDirectory(prefix="mossnet-arm-") as tmp:
        work = Path(args.keep or tmp).resolve()
        work.mkdir(parents=True, exist_ok=True)
        inputs, files = {}, {}  # (case index, tiles) -> arrays / npz path
        for (_, case_name), chosen in tiles.items():
            i = next(n for n, c in enumerate(cases) if c.name == case_name)
            sel = tuple(chosen)
            if (i, sel) not in inputs:
                inputs[i, sel] = tile_inputs(cases[i].image, t, list(sel))
                files[i, sel] = work / f"in_{i}_{len(files)}.npz"
                np.savez(files[i, sel], **inputs[i, sel])
        job_files = {}
        for cpu in args.cpus:
            jobs = [{"runtime": a.runtime.name, "artifact": str(a.path.resolve()),
                     "inputs": str(files[i, tuple(tiles[a.key, c.name])]),
                     "outputs": str(work / f"{cpu}_{a.key.replace(':', '_')}_{i}.npz")}
                    for a in artifacts for i, c in enumerate(cases)]
            job_files[cpu] = work / f"job_{cpu}.json"
            job_files[cpu].write_text(json.dumps({"jobs": jobs}, indent=1))
        log(f"{len(args.cpus)} CPU models x {len(artifacts)} artifacts x {len(cases)} images; "
            f"{args.jobs} guest(s) at a time")
        # the guests run in their own processes while the x86-64 runs and references are made here
        guests = _start_guests_thread(env, job_files, max(1, args.jobs), args.timeout)
        references, x86_out = {}, {}
        ref_programs = {"float": registry.get("pytorch").open(args.ckpt)}
        if any(a.precision.quantized_by for a in artifacts):
            for method in {a.precision.quantized_by for a in artifacts if a.precision.quantized_by}:
                ref_programs[method] = registry.get("pt2e").open(store.ensure_pipeline(args.ckpt, method).path)
        for kind, up in ref_programs.items():
            for i, c in enumerate(cases):
                references[kind, i] = upscale_tiled(c.image, up.context_fn, up.patch_fn, t, as_float=True)
        for a in artifacts:
            programs = (x86[a.key].context_fn, x86[a.key].patch_fn)
            for i, c in enumerate(cases):
                sel = tiles[a.key, c.name]
                x86_out[a.key, i] = stitch(c.image, t, sel, run_calls(programs, inputs[i, tuple(sel)]))
        log("x86-64 runs and references done; waiting for the guests")
        guests.join()
        results = guests.result

        report = {"format": FORMAT, "format_version": FORMAT_VERSION, "command": COMMAND,
                  "checkpoint": {"file": Path(args.ckpt).name, "sha256": sha256(args.ckpt)},
                  "environment": environment_versions(env), "tiling": t.to_dict(),
                  "images": [{"name": c.name, "height": int(c.image.shape[0]), "width": int(c.image.shape[1]),
                              "tiles": len(c.plan(t)),
                              "tiles_run": {a.key: tiles[a.key, c.name] for a in artifacts}} for c in cases],
                  "artifacts": [a.describe() for a in artifacts], "x86": [], "cpus": []}
        for a in artifacts:
            kind = a.precision.quantized_by or "float"
            per = {c.name: compare(x86_out[a.key, i], x86_out[a.key, i], references[kind, i])
                   for i, c in enumerate(cases)}
            report["x86"].append(check(a.describe(), per, None))
        for cpu in args.cpus:
            guest, error = results.get(cpu, (None, "guest not run"))
            jobs = {Path(j["outputs"]).name: j for j in (guest or {}).get("jobs", [])}
            entry = {"cpu": cpu, "kernel_families": kernel_families((guest or {}).get("cpu")), "results": []}
            for a in artifacts:
                kind = a.precision.quantized_by or "float"
                per, why = {}, error
                for i, c in enumerate(cases):
                    name = f"{cpu}_{a.key.replace(':', '_')}_{i}.npz"
                    job = jobs.get(name, {})
                    if why is None and job.get("error"):
                        why = job["error"]
                    if why is not None:
                        break
                    try:
                        with np.load(work / name) as z:
                            outputs = {k: z[k] for k in z.files}
                        sel = tiles[a.key, c.name]
                        out = stitch(c.image, t, sel, outputs, inputs[i, tuple(sel)])
                    except (OSError, ValueError, KeyError) as exc:
                        why = f"{c.name}: unreadable guest output ({exc})"
                        break
                    per[c.name] = compare(out, x86_out[a.key, i], references[kind, i])
                entry["results"].append(check(a.describe(), per if why is None else None, why))
            report["cpus"].append(entry)
    passed, failed = tally(report)
    report["summary"] = {"passed": passed, "failed": failed}
    return report


class _start_guests_thread:
    """run_guests in a thread, so the host's own work overlaps the emulated runs."""

    def __init__(self, env, job_files, parallel, timeout):
        self.result: dict = {}
        self.thread = threading.Thread(target=self._run, args=(env, job_files, parallel, timeout), daemon=True)
        self.thread.start()

    def _run(self, *args):
        self.result = run_guests(*args)

    def join(self):
        self.thread.join()


# ---- the table ---------------------------------------------------------------------------------

def cell(r: dict) -> str:
    if r.get("error"):
        return f"**FAIL**: {r['error'][:80]}"
    db = "identical" if r["min_psnr_db"] >= PSNR_CAP else f"{r['min_psnr_db']:.1f} dB"
    return f"{100 * r['identical_share']:.2f} % / {db}" + ("" if r["passed"] else " **FAIL**")


def markdown(report: dict) -> str:
    arts = report["artifacts"]
    head = ["-cpu", "XNNPACK kernel families (arch flags)"] + [
        f"{LABELS.get(a['runtime'], a['runtime'])} {a['precision']} (≥ {a['bound_db']:g} dB vs {a['reference']})"
        for a in arts]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    x86 = {r["artifact"]: r for r in report["x86"]}
    lines.append("| x86-64 (this host: the run compared against) | | "
                 + " | ".join(cell(x86[a["key"]]).replace("100.00 % / ", "") for a in arts) + " |")
    for cpu in report["cpus"]:
        by = {r["artifact"]: r for r in cpu["results"]}
        lines.append(f"| {cpu['cpu']} | {families_cell(cpu['kernel_families'])} | "
                     + " | ".join(cell(by[a["key"]]) for a in arts) + " |")
    return "\n".join(lines)
