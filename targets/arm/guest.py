#!/usr/bin/env python3
"""Guest-side runner: runs MossNet artifacts inside the emulated arm64 environment (env.sh).

Standalone on purpose: imports only numpy, plus torch + executorch (for .pte) or ai_edge_litert
(for .tflite), never the repository's packages, which are not installed in the guest.

    guest.py RUNTIME ARTIFACT INPUTS.npz OUTPUTS.npz     one artifact
    guest.py JOB.json                                    several artifacts, one process

RUNTIME is ``executorch`` or ``tflite``. Importing torch under emulation costs tens of seconds,
so the host should send every artifact for one CPU model in one job file:

    {"inputs": "in.npz",                      # default inputs for every job
     "threads": 1,                            # optional: XNNPACK / LiteRT threads (default:
                                              # the runtimes' own; env.sh's fake /sys has 1 CPU)
     "jobs": [{"runtime": "executorch", "artifact": "a.pte", "outputs": "a.out.npz"},
              {"runtime": "tflite", "artifact": "b.tflite", "outputs": "b.out.npz",
               "inputs": "other.npz"}]}

torch is imported only when an executorch job is present (a tflite-only job file starts in a
few seconds).

INPUTS.npz (float32; calls of the two programs that every MossNet artifact has):
  ``thumb``       (1, 3, T, T)          input of ``context`` (the 64x64 thumbnail)
  ``patches``     (N, 1, 3, P, P)       inputs of ``upscale_patch``, one call each
  ``modulation``  (1, C) optional       if present, ``upscale_patch`` is ALSO run on every patch
                                        with this modulation (typically the host's own context
                                        output): isolates the patch program from the context
OUTPUTS.npz (float32, dequantized for int8 models):
  ``modulation``            context(thumb)
  ``hr``                    (N, 1, 3, sP, sP)  upscale_patch(patch_i, modulation)
  ``hr_given_modulation``   same with the input ``modulation`` (only when it was given)

Calling conventions are those of targets/executorch/runner.py and targets/tflite/runner.py:
ExecuTorch methods "context" and "upscale_patch" of the .pte through
``executorch.extension.pybindings._C._load_program`` with torch tensors; LiteRT signature
runners "context" (args_0 -> output_0) and "upscale_patch" (args_0, args_1 -> output_0), int8
I/O quantized/dequantized with each tensor's (scale, zero_point).

stdout: one JSON object: {"cpu": {...}, "import_s": {...}, "jobs": [{..., "seconds": ...}]}.
"cpu" is what the CPU looks like to the runtimes: AT_HWCAP/AT_HWCAP2 decoded (getauxval),
/proc/cpuinfo (qemu-user emulates it from the -cpu model), torch's ATen CPU capability,
cpuinfo's ISA struct as the ExecuTorch/XNNPACK copy sees it, and LiteRT's XNNPACK
hardware_config (arch_flags: the kernel families XNNPACK may pick) read from its symbol table.
"""
from __future__ import annotations

import ctypes
import json
import os
import struct
import sys
import time

import numpy as np

# ---------------------------------------------------------------------------------------------
# CPU description
# Linux arch/arm64/include/uapi/asm/hwcap.h
HWCAP = ["fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp",
         "asimdhp", "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3", "sm4",
         "asimddp", "sha512", "sve", "asimdfhm", "dit", "uscat", "ilrcpc", "flagm", "ssbs", "sb",
         "paca", "pacg", "gcs", "cmpbr", "fprcvt", "f8mm8", "f8mm4", "sve_f16mm", "sve_eltperm",
         "sve_aes2", "sve_bfscale", "sve2p2", "sme2p2", "sme_sbitperm", "sme_aes", "sme_sfexpa",
         "sme_stmop", "sme_smop4"]
HWCAP2 = ["dcpodp", "sve2", "sveaes", "svepmull", "svebitperm", "svesha3", "svesm4", "flagm2",
          "frint", "svei8mm", "svef32mm", "svef64mm", "svebf16", "i8mm", "bf16", "dgh", "rng",
          "bti", "mte", "ecv", "afp", "rpres", "mte3", "sme", "smei16i64", "smef64f64",
          "smei8i32", "smef16f32", "smeb16f32", "smef32f32", "smefa64", "wfxt", "ebf16",
          "sveebf16", "cssc", "rprfm", "sve2p1", "sme2", "sme2p1", "smei16i32", "smebi32i32",
          "smeb16b16", "smef16f16", "mops", "hbc", "sveb16b16", "lrcpc3", "lse128", "fpmr", "lut",
          "faminmax", "f8cvt", "f8fma", "f8dp4", "f8dp2", "f8e4m3", "f8e5m2", "smelutv2",
          "smef8f16", "smef8f32", "smesf8fma", "smesf8dp4", "smesf8dp2", "poe"]
AT_HWCAP, AT_HWCAP2 = 16, 26

# pytorch/cpuinfo include/cpuinfo.h, struct cpuinfo_arm_isa (arm64); the layout depends on the
# cpuinfo version, told apart by the symbol's size
_ISA_TAIL = ["rdm", "fp16arith", "dot", "jscvt", "fcma", "fhm", "aes", "sha1", "sha2", "pmull",
             "crc32"]
_ISA_HEAD = ["atomics", "bf16", "sve", "sve2", "i8mm", "sme", "sme2", "sme2p1", "sme_i16i32",
             "sme_bi32i32", "sme_b16b16", "sme_f16f16"]
ISA_LAYOUTS = {  # size: (head bools, offset of svelen, offset of smelen or None, tail offset)
    28: (_ISA_HEAD, 12, None, 16),
    32: (_ISA_HEAD, 12, 16, 20),
    36: (_ISA_HEAD + ["fp8", "f8dot", "f8mm"], 16, 20, 24),
}
# XNNPACK src/xnnpack/hardware-config.h, enum xnn_arch_flags (ARM) and struct
# xnn_hardware_config {enum xnn_uarch uarch[3]; uint64_t arch_flags; size_t caches[8];} (88 B)
XNN_ARCH = ["arm_v6", "arm_vfpv2", "arm_vfpv3", "arm_neon", "arm_neon_fma", "arm_neon_v8",
            "arm_fp16_arith", "arm_neon_fp16_arith", "arm_neon_fp16", "arm_neon_bf16",
            "arm_neon_dot", "arm_neon_i8mm", "arm_sve", "arm_sve2", "arm_sme", "arm_sme2"]
XNN_UARCH = ["unknown", "dhyana", "zen", "zen4", "zen5", "cortex_a5", "cortex_a7", "cortex_a32",
             "cortex_a35", "cortex_a53", "cortex_a55", "cortex_a55r0", "cortex_a57", "cortex_a72",
             "cortex_a73", "cortex_a75", "cortex_a76", "cortex_a77", "cortex_a78", "cortex_a510",
             "cortex_a710", "cortex_a715", "cortex_x1", "cortex_x2", "cortex_x3", "cortex_x4",
             "exynos_m1", "exynos_m2", "exynos_m3", "exynos_m4", "exynos_m5", "krait", "kryo",
             "neoverse_n1", "neoverse_n2", "neoverse_v1", "neoverse_v2", "oryon"]


def bits(value: int, names: list[str]) -> list[str]:
    return [names[i] if i < len(names) else f"bit{i}" for i in range(64) if value >> i & 1]


def hwcaps() -> dict:
    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    libc.getauxval.argtypes = [ctypes.c_ulong]
    h1, h2 = libc.getauxval(AT_HWCAP), libc.getauxval(AT_HWCAP2)
    return {"AT_HWCAP": hex(h1), "AT_HWCAP2": hex(h2), "hwcap": bits(h1, HWCAP),
            "hwcap2": bits(h2, HWCAP2)}


def proc_cpuinfo() -> dict:
    out = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # processor 0 only
                k, _, v = line.partition(":")
                out[k.strip()] = v.strip()
    except OSError as e:
        out["error"] = str(e)
    return out


def decode_isa(raw: bytes) -> dict:
    layout = ISA_LAYOUTS.get(len(raw))
    if layout is None:
        return {"raw": raw.hex(), "note": f"unknown struct size {len(raw)}"}
    head, sve_off, sme_off, tail_off = layout
    flags = [n for i, n in enumerate(head) if raw[i]]
    flags += [n for i, n in enumerate(_ISA_TAIL) if raw[tail_off + i]]
    out = {"flags": flags, "svelen_bytes": struct.unpack_from("<I", raw, sve_off)[0]}
    if sme_off is not None:
        out["smelen_bytes"] = struct.unpack_from("<I", raw, sme_off)[0]
    return out


def loaded_path(fragment: str) -> tuple[str, int] | None:
    """(path, load base) of a loaded shared object, from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and fragment in parts[5] and int(parts[2], 16) == 0:
                    return parts[5], int(parts[0].split("-")[0], 16)
    except OSError:
        pass
    return None


def elf_symbols(path: str, wanted: set[str]) -> dict[str, tuple[int, int]]:
    """{name: (st_value, st_size)} from .symtab (local symbols included) or .dynsym."""
    with open(path, "rb") as f:
        data = f.read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    out: dict[str, tuple[int, int]] = {}
    for kind in (2, 11):  # SHT_SYMTAB, then SHT_DYNSYM
        for s in secs:
            if s[1] != kind:
                continue
            strtab = secs[s[6]]
            for off in range(s[4], s[4] + s[5], 24):
                name_off, _, _, shndx, value, size = struct.unpack_from("<IBBHQQ", data, off)
                if shndx == 0 or not size:
                    continue
                end = data.index(b"\0", strtab[4] + name_off)
                name = data[strtab[4] + name_off:end].decode(errors="replace")
                if name in wanted and name not in out:
                    out[name] = (value, size)
        if out:
            break
    return out


def read_local(fragment: str, names: set[str]) -> dict[str, bytes]:
    found = loaded_path(fragment)
    if not found:
        return {}
    path, base = found
    return {n: ctypes.string_at(base + v, size) for n, (v, size) in elf_symbols(path, names).items()}


def cpuinfo_via_dll(path: str) -> dict:
    """cpuinfo's view through a loaded library that exports its cpuinfo copy (dlsym)."""
    lib = ctypes.CDLL(path)
    lib.cpuinfo_initialize.restype = ctypes.c_bool
    ok = lib.cpuinfo_initialize()
    size = elf_symbols(path, {"cpuinfo_isa"}).get("cpuinfo_isa", (0, 32))[1]
    raw = ctypes.string_at(ctypes.addressof(ctypes.c_char.in_dll(lib, "cpuinfo_isa")), size)
    out = {"library": os.path.basename(path), "initialized": bool(ok), "isa": decode_isa(raw)}
    lib.cpuinfo_get_uarch.restype = ctypes.POINTER(ctypes.c_uint32 * 4)
    lib.cpuinfo_get_uarchs_count.restype = ctypes.c_uint32
    uarchs = []
    for i in range(lib.cpuinfo_get_uarchs_count()):
        u = lib.cpuinfo_get_uarch(i)
        if u:
            uarch, midr, nproc, ncore = u.contents
            uarchs.append({"uarch": hex(uarch), "midr": hex(midr), "processors": nproc})
    out["uarchs"] = uarchs  # enum cpuinfo_uarch: 0x0030035N cortex-a5N, 0x0030037N cortex-a7N, 0x003004xx neoverse
    return out


def xnnpack_config(raw: bytes) -> dict:
    uarch = struct.unpack_from("<3I", raw, 0)
    flags, = struct.unpack_from("<Q", raw, 16)
    caches = struct.unpack_from("<8Q", raw, 24) if len(raw) >= 88 else ()
    return {"arch_flags": hex(flags), "families": [f for f in bits(flags, XNN_ARCH)],
            "uarch": [XNN_UARCH[u] if u < len(XNN_UARCH) else u for u in uarch], "l1d_bytes": caches[0] if caches else None,
            "l2_bytes": caches[4] if caches else None}


def describe_cpu() -> dict:
    info = {"machine": os.uname().machine}
    if info["machine"] == "aarch64":
        info.update(hwcaps())
    pc = proc_cpuinfo()
    info["proc_cpuinfo"] = {k: pc[k] for k in ("Features", "CPU implementer", "CPU part",
                                                "CPU variant", "CPU architecture") if k in pc}
    info["qemu_cpu"] = os.environ.get("QEMU_CPU")
    if "torch" in sys.modules:
        import torch
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["torch_version"] = torch.__version__
        info["cuda_available"] = torch.cuda.is_available()
    for frag in ("libexecutorch_threadpool.so", "libc10.so"):
        found = loaded_path(frag)
        if found:
            try:
                info.setdefault("cpuinfo", []).append(cpuinfo_via_dll(found[0]))
            except Exception as e:  # noqa: BLE001 - a diagnostic must never fail the run
                info.setdefault("cpuinfo", []).append({"library": frag, "error": repr(e)})
    # LiteRT links cpuinfo and XNNPACK statically; its symbol table still names them
    lit = read_local("libpywrap_litert_common.so", {"cpuinfo_isa", "hardware_config"})
    if lit:
        info["litert_cpuinfo_isa"] = decode_isa(lit["cpuinfo_isa"]) if "cpuinfo_isa" in lit else None
        if "hardware_config" in lit and len(lit["hardware_config"]) == 88:
            info["litert_xnnpack_hardware_config"] = xnnpack_config(lit["hardware_config"])
    return info


# ---------------------------------------------------------------------------------------------
# Runtimes
def executorch_programs(path: str, threads: int | None):
    import torch  # noqa: F401 - loads libtorch, which the extension links
    from executorch.extension.pybindings import _C as rt
    program = rt._load_program(path, program_verification=rt.Verification.InternalConsistency)
    context, patch = program.load_method("context"), program.load_method("upscale_patch")

    def context_fn(thumb):
        return context([torch.from_numpy(thumb)])[0].numpy()

    def patch_fn(p, modulation):
        return patch([torch.from_numpy(p), torch.from_numpy(modulation)])[0].numpy()
    return context_fn, patch_fn


SIGNATURES = {"context": (("args_0",), "output_0"),
              "upscale_patch": (("args_0", "args_1"), "output_0")}


def _quantize(x, detail):
    scale, zero_point = detail["quantization"]
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(detail["dtype"])


def _dequantize(y, detail):
    scale, zero_point = detail["quantization"]
    return y if detail["dtype"] == np.float32 else (y.astype(np.float32) - zero_point) * scale


def tflite_programs(path: str, threads: int | None):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=path, num_threads=threads) if threads else Interpreter(model_path=path)
    runners = {name: it.get_signature_runner(name) for name in SIGNATURES}

    def call(name, *arrays):
        runner = runners[name]
        inputs, output = SIGNATURES[name]
        ins, outs = runner.get_input_details(), runner.get_output_details()
        result = runner(**{k: _quantize(a, ins[k]) for k, a in zip(inputs, arrays)})
        return np.asarray(_dequantize(result[output], outs[output]), dtype=np.float32)
    return (lambda thumb: call("context", thumb)), (lambda p, mod: call("upscale_patch", p, mod))


RUNTIMES = {"executorch": executorch_programs, "tflite": tflite_programs}


def run_job(job: dict, default_inputs: str | None, threads: int | None) -> dict:
    t0 = time.perf_counter()
    inputs = np.load(job.get("inputs") or default_inputs)
    context_fn, patch_fn = RUNTIMES[job["runtime"]](job["artifact"], threads)
    t_load = time.perf_counter()
    thumb = np.ascontiguousarray(inputs["thumb"], dtype=np.float32)
    patches = np.ascontiguousarray(inputs["patches"], dtype=np.float32)
    out = {"modulation": np.asarray(context_fn(thumb), dtype=np.float32)}
    t_ctx = time.perf_counter()
    out["hr"] = np.stack([np.asarray(patch_fn(p, out["modulation"]), dtype=np.float32) for p in patches])
    t_patch = time.perf_counter()
    if "modulation" in inputs.files:
        given = np.ascontiguousarray(inputs["modulation"], dtype=np.float32)
        out["hr_given_modulation"] = np.stack([np.asarray(patch_fn(p, given), dtype=np.float32)
                                               for p in patches])
    np.savez(job["outputs"], **out)
    return {"runtime": job["runtime"], "artifact": job["artifact"], "outputs": job["outputs"],
            "patches": int(len(patches)), "load_s": round(t_load - t0, 3),
            "context_s": round(t_ctx - t_load, 3),
            "patch_s_each": round((t_patch - t_ctx) / max(len(patches), 1), 3),
            "seconds": round(time.perf_counter() - t0, 3)}


def main(argv: list[str]) -> int:
    if len(argv) == 1 and argv[0].endswith(".json"):
        with open(argv[0]) as f:
            spec = json.load(f)
    elif len(argv) == 4 and argv[0] in RUNTIMES:
        spec = {"inputs": argv[2], "jobs": [{"runtime": argv[0], "artifact": argv[1],
                                             "outputs": argv[3]}]}
    else:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    bad = [j.get("runtime") for j in spec["jobs"] if j.get("runtime") not in RUNTIMES]
    if bad:
        print(f"guest.py: unknown runtime(s) {bad}: use {sorted(RUNTIMES)}", file=sys.stderr)
        return 2
    threads = spec.get("threads")
    report: dict = {"import_s": {}, "jobs": []}
    t = time.perf_counter()
    if any(j["runtime"] == "executorch" for j in spec["jobs"]):
        import torch
        report["import_s"]["torch"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        from executorch.extension.pybindings import _C
        report["import_s"]["executorch"] = round(time.perf_counter() - t, 3)
        if threads:  # as targets/executorch/runtime.py: before the first program runs
            torch.set_num_threads(1)
            _C._unsafe_reset_threadpool(threads)
    if any(j["runtime"] == "tflite" for j in spec["jobs"]):
        t = time.perf_counter()
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
        report["import_s"]["ai_edge_litert"] = round(time.perf_counter() - t, 3)
    rc = 0
    for job in spec["jobs"]:
        try:
            report["jobs"].append(run_job(job, spec.get("inputs"), threads))
        except Exception as e:  # noqa: BLE001 - report per artifact, keep going
            report["jobs"].append({"runtime": job["runtime"], "artifact": job["artifact"],
                                   "error": f"{type(e).__name__}: {e}"})
            rc = 1
    report["cpu"] = describe_cpu()  # after the runs: XNNPACK's config is initialized lazily
    json.dump(report, sys.stdout, indent=1)
    print()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
