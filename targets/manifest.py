"""The artifact manifest: one JSON schema, versioned, written beside every artifact.

Apps and runners read everything they need from it (tiling, tensor names and shapes,
normalization, I/O quantization) instead of copying constants. ``load_manifest`` refuses an
artifact whose hash, schema, fields (``targets.validate``), precision or scale is not what the
caller expects; ``Runtime.open`` then checks it against the program itself."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from mossnet.core.atomic import atomic_write
from mossnet.core.hashing import sha256
from mossnet.core.tiling import PROGRAMS, PROGRAMS_VERSION, TilingConfig, tensor_shapes

from .validate import ManifestError, TilingError, check_fields, check_programs, tiling_of

__all__ = ["ManifestError", "TilingError", "load_manifest", "tiling_of", "write_manifest", "manifest_path"]

SCHEMA = "mossnet-artifact-manifest"
SCHEMA_VERSION = 1
NORMALIZATION = {
    "input": "float32 NCHW = uint8 RGB / 255",
    "output": "uint8 RGB = floor(clamp(v, 0, 1) * 255 + 0.5)",
    "thumbnail": "adaptive average pool of the whole LR image (docs/tiling.md rule 5)",
}


def manifest_path(artifact: str | Path) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".manifest.json")


def program_signatures(tiling: TilingConfig, modulation_dim: int, dtype: str = "float32") -> dict:
    """Names, shapes, dtypes and layout of the two programs' tensors (``mossnet.core.tiling``)."""
    shapes = tensor_shapes(tiling, modulation_dim)
    tensor = lambda name: {"name": name, "shape": shapes[name], "dtype": dtype, "layout": "NCHW"}  # noqa: E731
    return {program: {"inputs": [tensor(n) for n in inputs], "outputs": [tensor(output)]}
            for program, (inputs, output) in PROGRAMS.items()}


def build_manifest(*, runtime: str, precision: str, artifact: Path, arch: str,
                   checkpoint_sha256: str, tiling: TilingConfig, modulation_dim: int,
                   toolkit: dict, parity: dict, io_quantization: dict | None = None,
                   files: dict | None = None, name: str | None = None, quantized: dict | None = None,
                   selftest: dict | None = None, runtime_compat: dict | None = None) -> dict:
    """``artifact`` is hashed where it lies; ``name`` is the file name it is published under
    (default its own). ``quantized``: the int8 pipeline it came from (``targets.store``);
    ``selftest``: the on-device self-test file beside it (``targets.selftest``);
    ``runtime_compat``: the app runtime paired with this exporter (``Runtime.runtime_compat``)."""
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "model": {"arch": arch, "scale": tiling.scale, "checkpoint_sha256": checkpoint_sha256,
                  "programs_version": PROGRAMS_VERSION},
        "runtime": runtime, "precision": precision,
        "artifact": {"file": name or artifact.name, "sha256": sha256(artifact),
                     "bytes": sum(p.stat().st_size for p in artifact.rglob("*") if p.is_file())
                     if artifact.is_dir() else artifact.stat().st_size,
                     **({"programs": files} if files else {})},
        "tiling": tiling.to_dict(),
        "programs": program_signatures(tiling, modulation_dim),
        "normalization": NORMALIZATION,
        "io_quantization": io_quantization,
        "toolkit": toolkit,
        "parity": parity,
        "quantized_pipeline": quantized,
        **({"selftest": selftest} if selftest else {}),
        **({"runtime_compat": runtime_compat} if runtime_compat else {}),
    }


def write_manifest(artifact: Path, manifest: dict) -> Path:
    path = manifest_path(artifact)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1) + "\n"))
    return path


MAX_MANIFEST_BYTES = 1 << 20  # a real one is about 2 KB


def read_manifest(path: Path):
    """The parsed JSON of a manifest file, or one line saying why not."""
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path}: not valid JSON (over {MAX_MANIFEST_BYTES // 1024} KiB: not a manifest)")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not valid JSON (not UTF-8 text)") from None
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"{path}: not valid JSON ({str(exc)[:120]})") from None


def load_manifest(artifact: str | Path, runtime: str, precisions: Iterable[str],
                  scale: int | None = None) -> dict:
    """The manifest of an artifact, after checking schema, runtime, precision, fields, scale,
    hash, tiling, and that its tensor table is the one its tiling implies."""
    artifact = Path(artifact)
    if not artifact.exists():
        raise ManifestError(f"{artifact}: no such artifact")
    path = manifest_path(artifact)
    if not path.is_file():
        raise ManifestError(f"{artifact}: no manifest beside it ({path.name})")
    m = read_manifest(path)
    if not isinstance(m, dict):
        raise ManifestError(f"{path}: unsupported manifest schema (a JSON {type(m).__name__}, not an object)")
    version = m.get("schema_version")
    if m.get("schema") != SCHEMA or not isinstance(version, int) or isinstance(version, bool) \
            or version != SCHEMA_VERSION:
        raise ManifestError(f"{path}: unsupported manifest schema {str(m.get('schema'))[:60]} v{str(version)[:20]}")
    if m.get("runtime") != runtime:
        raise ManifestError(f"{artifact}: a {str(m.get('runtime'))[:40]} artifact, not {runtime}")
    if not isinstance(m.get("precision"), str) or m["precision"] not in set(precisions):
        raise ManifestError(f"{artifact}: unsupported precision {str(m.get('precision'))[:40]!r} for {runtime}")
    check_fields(m, path)
    if scale is not None and m["model"]["scale"] != scale:
        raise ManifestError(f"{artifact}: an x{m['model']['scale']} model, expected x{scale}")
    if sha256(artifact) != m["artifact"]["sha256"]:
        raise ManifestError(f"{artifact}: SHA-256 does not match its manifest (modified or corrupt)")
    check_programs(m, tiling_of(m, path), path)
    return m
