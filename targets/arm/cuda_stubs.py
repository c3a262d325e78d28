#!/usr/bin/env python3
"""Build aarch64 stub libraries for the CUDA libraries that PyPI's aarch64 torch wheel needs.

Runs on the HOST (x86 python, no torch). Usage:
    cuda_stubs.py SITE_PACKAGES STUB_DIR BINUTILS_PREFIX [SYSTEM_LIB_DIR ...]

PyPI's `torch==2.13.0` manylinux aarch64 wheel is a CUDA (SBSA) build: even libtorch_cpu.so
has DT_NEEDED entries for libcudart.so.13 and libcupti.so.13, and libtorch.so needs
libtorch_cuda.so, which needs cuDNN, cuBLAS, NCCL, ... (~4 GB of nvidia-* wheels). No CPU-only
aarch64 torch 2.13 wheel is reachable here (download.pytorch.org is not), and ExecuTorch's
pybindings link libtorch_python.so, so torch 2.13 itself has to load.

Nothing CUDA ever runs in the guest, so every missing library is replaced by a stub: a shared
object with the right SONAME, the symbol-version nodes the callers were linked against, and
every symbol they import from it. Functions return 100 (cudaErrorNoDevice; any non-zero status
means "failed" for the CUDA libraries, so torch.cuda.is_available() is False), except the
*ErrorString/*ErrorName/*ResultString functions, which return a pointer to "cuda-stub". Data
symbols are 64 zero bytes. The stubs are assembled and linked with Debian's
binutils-aarch64-linux-gnu (no compiler needed)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

CUDA_LIB = re.compile(r"^lib(cu|nv|nccl)")
SYM = re.compile(r"^\s*\d+:\s+([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(\S+)")


def readelf(tool: str, *args: str) -> str:
    return subprocess.run([tool, "-W", *args], check=True, capture_output=True, text=True).stdout


def is_elf(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def main() -> int:
    site, stub_dir, prefix = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    sys_dirs = [Path(d) for d in sys.argv[4:]]
    re_ = prefix + "readelf"
    elves = [p for p in site.rglob("*.so*") if p.is_file() and not p.is_symlink() and is_elf(p)]
    available = {p.name for p in elves}
    for d in sys_dirs:
        available |= {p.name for p in d.iterdir()} if d.is_dir() else set()

    needed_by: dict[str, list[Path]] = defaultdict(list)
    for p in elves:
        for line in readelf(re_, "-d", str(p)).splitlines():
            m = re.search(r"\(NEEDED\).*\[(.+)\]", line)
            if m and m.group(1) not in available:
                needed_by[m.group(1)].append(p)
    other = sorted(lib for lib in needed_by if not CUDA_LIB.match(lib))
    if other:
        print(f"cuda_stubs: not CUDA, not stubbed (install them): {' '.join(other)}", file=sys.stderr)
        for lib in other:
            del needed_by[lib]
    if not needed_by:
        print("cuda_stubs: nothing missing", file=sys.stderr)
        return 0

    # version name -> library file, from the callers' version-needs sections
    ver_file: dict[str, str] = {}
    syms: dict[str, dict[str, tuple[str, str | None]]] = defaultdict(dict)  # lib -> sym -> (type, ver)
    unversioned: dict[str, set[str]] = defaultdict(set)  # caller -> undefined unversioned names
    callers = sorted({c for cs in needed_by.values() for c in cs})
    for p in callers:
        cur = None
        for line in readelf(re_, "-V", str(p)).splitlines():
            m = re.search(r"File: (\S+)", line)
            if m:
                cur = m.group(1)
            m = re.search(r"Name: (\S+)", line)
            if m and cur in needed_by:
                ver_file[m.group(1)] = cur
        for line in readelf(re_, "--dyn-syms", str(p)).splitlines():
            m = SYM.match(line)
            if not m or m.group(6) != "UND" or m.group(4) == "WEAK":
                continue
            typ = m.group(3)
            name = re.sub(r"\s*\(\d+\)$", "", line.rstrip()).split()[-1]
            if "@" in name:
                base, ver = name.split("@", 1)
                ver = ver.lstrip("@")
                if ver in ver_file:
                    syms[ver_file[ver]][base] = (typ, ver)
            elif name:
                unversioned[str(p)].add(name)

    # unversioned imports that no available library defines go to the first missing library
    # the caller needs (cuFile and NCCL are linked without symbol versions)
    defined: set[str] = set()
    for p in elves + [q for d in sys_dirs if d.is_dir() for q in d.iterdir()
                      if q.is_file() and ".so" in q.name and is_elf(q)]:
        for line in readelf(re_, "--dyn-syms", str(p)).splitlines():
            m = SYM.match(line)
            if m and m.group(6) != "UND":
                defined.add(line.split()[-1].split("@")[0])
    for caller, names in unversioned.items():
        missing_libs = [lib for lib, cs in needed_by.items() if Path(caller) in cs]
        for n in sorted(names - defined):
            if not any(n in syms[l] for l in missing_libs):
                syms[missing_libs[0]].setdefault(n, ("FUNC", None))

    stub_dir.mkdir(parents=True, exist_ok=True)
    for lib in sorted(needed_by):
        entries = syms.get(lib, {})
        versions = sorted({v for _, v in entries.values() if v})
        asm = [".text", ".balign 4", "__stub_fail:", "  mov w0, #100", "  ret",
               "__stub_str:", "  adr x0, __stub_msg", "  ret",
               ".section .rodata", "__stub_msg: .asciz \"cuda-stub\"", ".data", ".balign 16"]
        text = [".text"]
        for n, (typ, _) in sorted(entries.items()):
            if typ == "OBJECT":
                asm += [f'.globl "{n}"', f'.type "{n}", %object', f'.size "{n}", 64', f'"{n}": .zero 64']
            else:
                target = "__stub_str" if re.search(r"(ErrorString|ErrorName|ResultString)$", n) else "__stub_fail"
                text += [f'.globl "{n}"', f'.type "{n}", %function', f'"{n}": b {target}']
        src = stub_dir / f"{lib}.s"
        src.write_text("\n".join(asm + text) + "\n")
        vmap = stub_dir / f"{lib}.map"
        if versions:
            blocks = []
            for v in versions:
                names = [n for n, (_, vv) in entries.items() if vv == v]
                blocks.append(f"{v} {{ global: {'; '.join(names)}; }};")
            rest = [n for n, (_, vv) in entries.items() if vv is None]
            if rest:
                blocks.insert(0, f"{lib}_UNVERSIONED {{ global: {'; '.join(rest)}; }};")
            blocks.append("STUB_LOCAL { local: *; };")
            vmap.write_text("\n".join(blocks) + "\n")
        obj = stub_dir / f"{lib}.o"
        subprocess.run([prefix + "as", "-o", str(obj), str(src)], check=True)
        cmd = [prefix + "ld.bfd", "-shared", "-soname", lib, "-o", str(stub_dir / lib), str(obj)]
        if versions:
            cmd[1:1] = ["--version-script", str(vmap)]
        subprocess.run(cmd, check=True)
        for f in (src, vmap, obj):
            f.unlink(missing_ok=True)
        print(f"cuda_stubs: {lib}: {len(entries)} symbols, versions {versions or '-'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
