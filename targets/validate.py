"""The one validation layer for artifact manifests: every field a loader, an app or the store
reads, by type and range, and then against what the program itself declares.

Why derive rather than hash: a hash of the manifest kept in the manifest protects nothing (who
edits the tiling re-signs it, as the hostile tests re-sign the artifact's hash), and the three
formats offer no common place to carry one. The program's own tensor shapes are ground truth:
ExecuTorch's method metadata, LiteRT's signature details and Core ML's model description fix
the thumbnail side, ``patch + 2 * halo`` and ``scale * patch``, so with the manifest's scale
(checked against the model) they determine patch, halo and thumb exactly; names and dtypes
(and LiteRT's int8 scales and zero points) are compared too. ``align`` is checked against the
architecture variant the manifest names. What no program can vouch for (parity figures,
toolkit versions) is informational and only type-checked."""
from __future__ import annotations

import math
import re
from pathlib import Path

from mossnet.core.config import VARIANTS, make_config
from mossnet.core.errors import UserError
from mossnet.core.tiling import PROGRAMS, TilingConfig

HEX64 = re.compile(r"^[0-9a-f]{64}$")
DTYPES = ("float32", "float16", "int8", "uint8", "int16", "int32")


class ManifestError(UserError):
    """A one-line problem with an artifact or its manifest."""


class TilingError(UserError):
    """A manifest whose tiling is invalid in itself (docs/conformance.md's "tiling" refusal,
    kept apart from ``ManifestError`` so that the conformance vectors classify it the same)."""


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def check_fields(m: dict, path: Path) -> None:
    """Types and ranges of every field outside the tiling (checked by ``tiling_of``)."""
    def bad(field: str, why: str):
        raise ManifestError(f"{path}: invalid manifest: {field} {why}")

    model = m.get("model")
    if not isinstance(model, dict):
        bad("model", "must be an object")
    if not isinstance(model.get("arch"), str) or not re.match(r"^mossnet-[a-z0-9_]{1,32}$", model["arch"]):
        bad("model.arch", "must be 'mossnet-<variant>'")
    if not _is_int(model.get("scale")) or model["scale"] not in (2, 4):
        bad("model.scale", "must be 2 or 4")
    if not isinstance(model.get("checkpoint_sha256"), str):
        bad("model.checkpoint_sha256", "must be a string")
    artifact = m.get("artifact")
    if not isinstance(artifact, dict):
        bad("artifact", "must be an object")
    if not isinstance(artifact.get("file"), str):
        bad("artifact.file", "must be a string")
    if not isinstance(artifact.get("sha256"), str) or not HEX64.match(artifact["sha256"]):
        bad("artifact.sha256", "must be a SHA-256 in hex")
    if "bytes" in artifact and (not _is_int(artifact["bytes"]) or artifact["bytes"] < 0):
        bad("artifact.bytes", "must be a non-negative integer")
    if not isinstance(m.get("tiling"), dict):
        bad("tiling", "must be an object")
    programs = m.get("programs")
    if not isinstance(programs, dict) or set(programs) != set(PROGRAMS):
        bad("programs", f"must describe exactly {', '.join(PROGRAMS)}")
    for name, sig in programs.items():
        if not isinstance(sig, dict) or not isinstance(sig.get("inputs"), list) \
                or not isinstance(sig.get("outputs"), list):
            bad(f"programs.{name}", "must list inputs and outputs")
        for t in sig["inputs"] + sig["outputs"]:
            if not isinstance(t, dict) or not isinstance(t.get("name"), str) or t.get("dtype") not in DTYPES \
                    or not isinstance(t.get("shape"), list) or not all(_is_int(d) and d > 0 for d in t["shape"]):
                bad(f"programs.{name}", "has a tensor without a name, a known dtype and a positive shape")
    io = m.get("io_quantization")
    if io is not None:
        if not isinstance(io, dict) or not all(isinstance(v, dict) for v in io.values()):
            bad("io_quantization", "must be null or {program: {tensor: {dtype, scale, zero_point}}}")
        for prog, tensors in io.items():
            for tname, q in tensors.items():
                if not isinstance(q, dict) or q.get("dtype") not in DTYPES or not _is_number(q.get("scale")) \
                        or q["scale"] < 0 or not _is_int(q.get("zero_point")):
                    bad(f"io_quantization.{prog}.{tname}",
                        "must have a dtype, a finite scale and an integer zero_point")
    for field in ("toolkit", "parity"):
        if not isinstance(m.get(field), dict):
            bad(field, "must be an object")
    parity = m["parity"]
    if not _is_number(parity.get("output_psnr_db")) or not isinstance(parity.get("reference"), str):
        bad("parity", "must give a finite output_psnr_db and its reference")
    if not isinstance(m.get("normalization"), dict):
        bad("normalization", "must be an object")
    st = m.get("selftest")
    if st is not None and (not isinstance(st, dict) or not isinstance(st.get("file"), str)
                           or not isinstance(st.get("sha256"), str) or not HEX64.match(st["sha256"])):
        bad("selftest", "must be an object with the self-test's file and SHA-256")
    if st is not None and not _is_number(parity.get("bound_db")):
        bad("parity.bound_db", "must be a number when there is a self-test to compare with it")
    if m.get("runtime_compat") is not None and not isinstance(m["runtime_compat"], dict):
        bad("runtime_compat", "must be an object")
    q = m.get("quantized_pipeline")
    if q is not None and not isinstance(q, dict):
        bad("quantized_pipeline", "must be null or an object")


def tiling_of(manifest: dict, path: Path | str = "manifest") -> TilingConfig:
    """The manifest's tiling, valid in itself and consistent with its model and programs."""
    try:
        t = TilingConfig.from_dict(manifest["tiling"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TilingError(f"{path}: invalid tiling in manifest ({exc})") from None
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    if "scale" in model and model["scale"] != t.scale:
        raise TilingError(f"{path}: tiling scale {t.scale} contradicts the model's x{model['scale']}")
    variant = str(model.get("arch", "")).removeprefix("mossnet-")
    if variant in VARIANTS:
        cfg = make_config(variant, t.scale)
        if (t.align, t.thumb) != (cfg.align, cfg.thumb_size):
            raise TilingError(f"{path}: tiling align {t.align} / thumb {t.thumb} is not MossNet-"
                              f"{variant.upper()}'s {cfg.align} / {cfg.thumb_size}")
    return t


def check_programs(manifest: dict, tiling: TilingConfig, path: Path) -> None:
    """The manifest's tensor table must be the one its tiling implies (apps read both)."""
    from .manifest import program_signatures
    try:
        modulation_dim = manifest["programs"]["context"]["outputs"][0]["shape"][1]
    except (KeyError, IndexError, TypeError):
        raise ManifestError(f"{path}: invalid manifest: programs.context has no modulation output") from None
    if manifest["programs"] != program_signatures(tiling, modulation_dim):
        raise ManifestError(f"{path}: the manifest's tensor shapes contradict its tiling (edited manifest)")


def check_declared(manifest: dict, declared: dict, path: Path) -> None:
    """Compare the manifest with what the program declares: ``declared`` is
    ``{program: {"inputs": [tensor], "outputs": [tensor]}}`` with each tensor ``{"shape",
    "dtype"}`` and, where the format has them, ``"name"`` (the name the manifest uses) and
    ``"quantization"`` ([scale, zero_point], LiteRT)."""
    if set(declared) != set(PROGRAMS):
        raise ManifestError(f"{path}: the program has {', '.join(sorted(declared)) or 'no'} methods, "
                            f"not {', '.join(PROGRAMS)}")
    io = manifest.get("io_quantization") or {}
    for program, sig in manifest["programs"].items():
        for kind in ("inputs", "outputs"):
            have, want = declared[program][kind], sig[kind]
            if len(have) != len(want):
                raise ManifestError(f"{path}: {program} takes {len(have)} {kind} in the program, "
                                    f"{len(want)} in the manifest")
            for i, (h, w) in enumerate(zip(have, want)):
                where = f"{program} {kind[:-1]} {i} ({w['name']})"
                if list(h["shape"]) != list(w["shape"]):
                    raise ManifestError(f"{path}: {where} is {list(h['shape'])} in the program but "
                                        f"{w['shape']} in the manifest (edited manifest or foreign program)")
                if h.get("name") is not None and h["name"] != w["name"]:
                    raise ManifestError(f"{path}: {where} is named {h['name']!r} in the program")
                q = io.get(program, {}).get(h.get("key", ""), None)
                want_dtype = q["dtype"] if q else w["dtype"]
                if h["dtype"] != want_dtype:
                    raise ManifestError(f"{path}: {where} is {h['dtype']} in the program, {want_dtype} in the manifest")
                if h.get("quantization") is not None and h["dtype"] != "float32" and (
                        not q or not math.isclose(q["scale"], h["quantization"][0], rel_tol=1e-6)
                        or q["zero_point"] != h["quantization"][1]):
                        raise ManifestError(f"{path}: {where}'s int8 scale and zero point differ from the manifest's")
