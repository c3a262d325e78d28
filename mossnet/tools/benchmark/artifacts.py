"""Find the artifacts the benchmark needs, or build them with the project's own tools
(``quantize.ptq.main`` / ``quantize.qat.main`` and ``targets.<runtime>.exporter.export``).

An artifact is reused only if its manifest says it was exported from this checkpoint (SHA-256)
at this patch size and its hash still matches; otherwise it is rebuilt. Artifacts at the default
patch go where ``python -m targets export-all`` puts them (``ROOT/<runtime>/``, quantized
pipelines in ``ROOT/<ckpt>_int8_<method>/``); other patch sizes (the patch sweep) go to
``ROOT/patch<P>/``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from mossnet.tiling import DEFAULT_PATCH


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def build_root(root: Path, patch: int) -> Path:
    return root if patch == DEFAULT_PATCH else root / f"patch{patch}"


def checkpoint_sha256(ckpt: str | Path) -> str:
    from targets.manifest import sha256
    return sha256(ckpt)


def find_artifact(root: Path, runtime: str, precision: str, ckpt_sha: str, patch: int) -> Path | None:
    """A valid artifact of this runtime/precision/checkpoint/patch under ``build_root``, or None."""
    from targets.manifest import ManifestError, load_manifest
    folder = build_root(root, patch) / runtime
    for mpath in sorted(folder.glob("*.manifest.json")):
        try:
            m = json.loads(mpath.read_text())
            if (m.get("precision"), m["model"]["checkpoint_sha256"], m["tiling"]["patch"]) != \
                    (precision, ckpt_sha, patch):
                continue
            artifact = mpath.with_name(mpath.name[:-len(".manifest.json")])
            load_manifest(artifact, runtime)  # hash, schema, runtime
            return artifact
        except (ManifestError, KeyError, TypeError, json.JSONDecodeError):
            continue
    return None


def quantized_dir(root: Path, ckpt: str | Path, method: str, patch: int) -> Path:
    from targets.common import default_quantized_dir
    return build_root(root, patch) / default_quantized_dir(ckpt, method).name


def ensure_quantized(root: Path, ckpt: str | Path, method: str, patch: int, eval_dirs: list[str]) -> Path:
    folder = quantized_dir(root, ckpt, method, patch)
    try:
        meta = json.loads((folder / "quant.json").read_text())
        if meta.get("checkpoint_sha256") == checkpoint_sha256(ckpt) and meta["tiling"]["patch"] == patch:
            return folder
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        pass
    log(f"quantizing ({method}, patch {patch}) -> {folder}")
    module = __import__(f"quantize.{method}", fromlist=["main"])
    rc = module.main([str(ckpt), "--out", str(folder), "--patch", str(patch), "--eval", *eval_dirs])
    if rc != 0:
        raise RuntimeError(f"quantize.{method} failed (exit {rc})")
    return folder


def ensure_artifact(root: Path, runtime: str, precision: str, ckpt: str | Path, patch: int,
                    eval_dirs: list[str]) -> Path:
    """The artifact's path, exporting it (and quantizing first for int8) when missing or stale."""
    from targets.__main__ import QUANTIZED_BY
    root = Path(root)
    found = find_artifact(root, runtime, precision, checkpoint_sha256(ckpt), patch)
    if found:
        return found
    method = QUANTIZED_BY.get(precision)
    quantized = ensure_quantized(root, ckpt, method, patch, eval_dirs) if method else None
    out = build_root(root, patch) / runtime
    log(f"exporting {runtime} {precision} (patch {patch}) -> {out}")
    exporter = __import__(f"targets.{runtime}.exporter", fromlist=["export"])
    artifact = exporter.export(str(ckpt), precision, out, str(quantized) if quantized else None, patch=patch)
    return Path(artifact)
