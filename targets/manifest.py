"""The artifact manifest: one JSON schema, versioned, written beside every artifact.

Apps and runners read everything they need from it (tiling, tensor names and shapes,
normalization, I/O quantization) instead of copying constants. ``load_manifest`` refuses an
artifact whose hash, schema, precision or scale is not what the caller expects."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from mossnet.core.errors import UserError
from mossnet.core.hashing import sha256
from mossnet.core.image_io import atomic_write
from mossnet.core.pipeline import PROGRAMS
from mossnet.core.tiling import TilingConfig

SCHEMA = "mossnet-artifact-manifest"
SCHEMA_VERSION = 1
NORMALIZATION = {
    "input": "float32 NCHW = uint8 RGB / 255",
    "output": "uint8 RGB = floor(clamp(v, 0, 1) * 255 + 0.5)",
    "thumbnail": "adaptive average pool of the whole LR image (docs/tiling.md rule 5)",
}


class ManifestError(UserError):
    """A one-line problem with an artifact or its manifest."""


def manifest_path(artifact: str | Path) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".manifest.json")


def program_signatures(tiling: TilingConfig, modulation_dim: int, dtype: str = "float32") -> dict:
    """Names, shapes, dtypes and layout of the two programs' tensors."""
    n, out = tiling.input_size, tiling.output_size
    shapes = {"thumbnail": [1, 3, tiling.thumb, tiling.thumb], "modulation": [1, modulation_dim, 1, 1],
              "patch": [1, 3, n, n], "hr_patch": [1, 3, out, out]}
    tensor = lambda name: {"name": name, "shape": shapes[name], "dtype": dtype, "layout": "NCHW"}  # noqa: E731
    return {program: {"inputs": [tensor(n) for n in inputs], "outputs": [tensor(output)]}
            for program, (inputs, output) in PROGRAMS.items()}


def build_manifest(*, runtime: str, precision: str, artifact: Path, arch: str,
                   checkpoint_sha256: str, tiling: TilingConfig, modulation_dim: int,
                   toolkit: dict, parity: dict, io_quantization: dict | None = None,
                   files: dict | None = None, name: str | None = None, quantized: dict | None = None) -> dict:
    """``artifact`` is hashed where it lies; ``name`` is the file name it is published under
    (default its own). ``quantized``: the int8 pipeline it came from (``targets.store``)."""
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "model": {"arch": arch, "scale": tiling.scale, "checkpoint_sha256": checkpoint_sha256},
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
    }


def write_manifest(artifact: Path, manifest: dict) -> Path:
    path = manifest_path(artifact)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=1) + "\n"))
    return path


def load_manifest(artifact: str | Path, runtime: str, precisions: Iterable[str],
                  scale: int | None = None) -> dict:
    """The manifest of an artifact, after checking schema, runtime, precision, scale and hash."""
    artifact = Path(artifact)
    if not artifact.exists():
        raise ManifestError(f"{artifact}: no such artifact")
    path = manifest_path(artifact)
    if not path.is_file():
        raise ManifestError(f"{artifact}: no manifest beside it ({path.name})")
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from None
    if m.get("schema") != SCHEMA or m.get("schema_version") != SCHEMA_VERSION:
        raise ManifestError(f"{path}: unsupported manifest schema {m.get('schema')} v{m.get('schema_version')}")
    if m.get("runtime") != runtime:
        raise ManifestError(f"{artifact}: a {m.get('runtime')} artifact, not {runtime}")
    if m.get("precision") not in set(precisions):
        raise ManifestError(f"{artifact}: unsupported precision {m.get('precision')!r} for {runtime}")
    if scale is not None and m["model"]["scale"] != scale:
        raise ManifestError(f"{artifact}: an x{m['model']['scale']} model, expected x{scale}")
    if sha256(artifact) != m["artifact"]["sha256"]:
        raise ManifestError(f"{artifact}: SHA-256 does not match its manifest (modified or corrupt)")
    return m


def tiling_of(manifest: dict) -> TilingConfig:
    return TilingConfig(**manifest["tiling"])
