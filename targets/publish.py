"""The one publish step every exporter goes through: convert into a temporary name, measure
parity against the right reference in the real runtime, then put the artifact and its manifest
in place together.

A runtime only converts (``Runtime.convert``); naming, atomicity, parity and the manifest are
decided here, once."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .manifest import build_manifest, manifest_path, write_manifest
from .parity import parity_images, parity_per_image
from .runtime import Runtime
from .source import export_source


def artifact_name(variant: str, scale: int, precision: str, suffix: str) -> str:
    """The one naming rule, e.g. ``mossnet_xs_x4_int8-ptq.pte``."""
    return f"mossnet_{variant}_x{scale}_{precision}{suffix}"


def export(runtime: Runtime, ckpt: str | Path, precision: str, out_dir: str | Path,
           quantized: str | Path | None = None, patch: int | None = None, **options) -> Path:
    """Export ``ckpt`` at ``precision`` into ``out_dir``; the artifact's path. ``quantized``: the
    int8 pipeline folder (default: where ``quantize.<method>`` writes it); ``options`` go to the
    runtime's converter (Core ML: ``compute``)."""
    prec = runtime.precision(precision)
    runtime.require()
    source = export_source(ckpt, prec, quantized, patch)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = out_dir / artifact_name(source.model.cfg.variant, source.tiling.scale, prec.name, runtime.suffix)
    tmp = artifact.with_name(f".{artifact.name}.{os.getpid()}.partial")
    try:
        fields = runtime.convert(source, prec, tmp, **options)
        images = parity_images()
        per_image = parity_per_image(runtime.programs(tmp), source.reference, source.tiling, images)
        manifest = build_manifest(
            runtime=runtime.name, precision=prec.name, artifact=tmp, name=artifact.name,
            arch=f"mossnet-{source.model.cfg.variant}", checkpoint_sha256=source.checkpoint_sha256,
            tiling=source.tiling, modulation_dim=source.model.cfg.modulation_dim,
            toolkit=fields["toolkit"], files=fields.get("files"), io_quantization=fields.get("io_quantization"),
            quantized=source.pipeline,
            parity={"reference": source.reference_name, "run_in": runtime.label, "output_psnr_db": round(min(per_image.values()), 2),
                    "bound_db": prec.parity_bound_db,
                    "images": {name: round(db, 2) for name, db in per_image.items()}})
        _replace(tmp, artifact)
    except BaseException:
        _remove(tmp)
        raise
    try:
        write_manifest(artifact, manifest)
    except BaseException:  # an artifact never stays without its manifest
        _remove(artifact)
        _remove(manifest_path(artifact))
        raise
    return artifact


def _replace(src: Path, dst: Path) -> None:
    """Move a file or folder onto ``dst``; an old folder is moved aside first, then deleted."""
    if dst.is_dir() and not dst.is_symlink():
        old = dst.with_name(f".{dst.name}.{os.getpid()}.old")
        dst.rename(old)
        src.rename(dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(dst, (0o777 if dst.is_dir() else 0o666) & ~umask)  # mkstemp-style 0600/0700 would leak


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
