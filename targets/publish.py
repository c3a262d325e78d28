"""The one publish step every exporter goes through: convert into a temporary name, measure
parity against the right reference in the real runtime, then put the artifact, its manifest and
its on-device self-test (``targets.selftest``) in place together.

A runtime only converts (``Runtime.convert``); naming, atomicity, parity and the manifest are
decided here, once. An existing artifact is replaced only if this tool wrote it (a manifest of
ours beside it); the manifest goes in place before the artifact, so that a run killed between
the two leaves a pair the loader refuses by hash and the next export replaces, never an
artifact without its manifest. Temporaries are hidden siblings that the next export sweeps
(``mossnet.core.atomic``)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from mossnet.core.atomic import normal_permissions, replace_folder, sweep_stale, temp_sibling
from mossnet.core.flatness import flatness
from mossnet.core.hashing import sha256

from .manifest import SCHEMA, build_manifest, manifest_path, write_manifest
from .parity import parity_images, parity_per_image
from .runtime import ExportError, Precision, Runtime
from .selftest import build_selftest, check_selftest, selftest_bound, selftest_path, write_selftest
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
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder (choose another --out)")
    source = export_source(ckpt, prec, quantized, patch)
    artifact = out_dir / artifact_name(source.model.cfg.variant, source.tiling.scale, prec.name, runtime.suffix)
    check_replaceable(artifact, runtime)
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale(artifact)
    tmp = temp_sibling(artifact, "partial")
    try:
        fields = runtime.convert(source, prec, tmp, **options)
        images = parity_images()
        runs = {None: runtime.programs(tmp), **runtime.parity_modes(tmp)}  # loaded once, run twice
        parity = measure(runtime, runs, source, prec, images)
        check_bound(parity, runtime, prec)
        selftest = write_selftest(tmp, build_selftest(source.reference, source.tiling, sha256(tmp),
                                                      source.reference_name, images), name=artifact.name)
        selftest["bound_db"] = selftest_bound_for(runtime, runs, artifact, prec, selftest)
        manifest = build_manifest(
            runtime=runtime.name, precision=prec.name, artifact=tmp, name=artifact.name,
            arch=f"mossnet-{source.model.cfg.variant}", checkpoint_sha256=source.checkpoint_sha256,
            tiling=source.tiling, modulation_dim=source.model.cfg.modulation_dim,
            toolkit=fields["toolkit"], files=fields.get("files"), io_quantization=fields.get("io_quantization"),
            quantized=source.pipeline, selftest=selftest, runtime_compat=runtime.runtime_compat(fields["toolkit"]),
            parity=parity)
        if prec.quantized_by:  # int8: flat colours and the sub-pixel grid, in the runtime itself
            manifest["flat_check"] = flatness(*runs[None], source.tiling)
        runtime.check_artifact(tmp, prec, manifest)
        check_replaceable(artifact, runtime)  # again: the conversion took minutes
        write_manifest(artifact, manifest)
        _replace(tmp, artifact)
    except BaseException:
        _remove(tmp)
        if not manifest_path(artifact).is_file():
            _remove(selftest_path(artifact))
        raise
    return artifact


def measure(runtime: Runtime, runs: dict, source, prec: Precision, images: list) -> dict:
    """The manifest's ``parity``: the lowest PSNR over the parity images against the reference,
    and, where the runtime has several valid executions of one artifact (``parity_modes``),
    the same per mode (``modes``), so that a range is recorded rather than one point of it.
    ``runs``: the artifact's programs under None, and each mode's under its name."""

    def figures(programs) -> dict:
        per_image = parity_per_image(programs, source.reference, source.tiling, images)
        return {"output_psnr_db": round(min(per_image.values()), 2),
                "images": {name: round(db, 2) for name, db in per_image.items()}}
    parity = {"reference": source.reference_name, "run_in": runtime.label, **figures(runs[None]),
              "bound_db": prec.parity_bound_db}
    modes = {mode: figures(programs) for mode, programs in runs.items() if mode is not None}
    return {**parity, "modes": modes} if modes else parity


def selftest_bound_for(runtime: Runtime, runs: dict, artifact: Path, prec: Precision, selftest: dict) -> float:
    """Run the just-written self-test through the artifact (and each valid execution of it) and
    set the bound its cases are held to on the phone (``targets.selftest.selftest_bound``);
    refuse an artifact that fails its own self-test."""
    data = selftest_path(artifact).read_bytes()
    reports = [check_selftest(data, {"selftest": selftest}, programs, bound=0.0) for programs in runs.values()]
    bound = selftest_bound(reports, prec.parity_bound_db)
    failed = sorted({name for report in reports for i, (name, db, ok) in enumerate(report)
                     if not ok or (i > 0 and db < bound)})  # ok at 0 dB: the context's floor, the alpha
    if failed:
        raise ExportError(f"{runtime.name} {prec.name}: fails its own self-test ({', '.join(failed)}); "
                          "refusing to publish it")
    return bound


def check_bound(parity: dict, runtime: Runtime, prec: Precision) -> None:
    """Refuse an artifact whose parity, in any recorded mode, is below its precision's bound:
    nothing is published (the caller removes the temporary)."""
    lowest = min([parity["output_psnr_db"]] + [m["output_psnr_db"] for m in parity.get("modes", {}).values()])
    if lowest < prec.parity_bound_db:
        raise ExportError(f"{runtime.name} {prec.name}: parity {lowest:.2f} dB against {parity['reference']} is "
                          f"below its bound of {prec.parity_bound_db} dB; refusing to publish it")


def check_replaceable(artifact: Path, runtime: Runtime) -> None:
    """Refuse to replace what this tool did not write: an existing artifact needs a manifest of
    ours beside it, and a folder artifact may hold nothing but its runtime's packages."""
    if not artifact.exists() and not artifact.is_symlink():
        return
    why = None
    try:
        ours = json.loads(manifest_path(artifact).read_text(encoding="utf-8")).get("schema") == SCHEMA
    except (OSError, ValueError, AttributeError):
        ours = False
    if not ours:
        why = f"no manifest of ours beside it ({manifest_path(artifact).name})"
    elif artifact.is_dir() != (runtime.suffix == ".coreml"):
        why = "a folder where a file belongs, or the reverse"
    elif artifact.is_dir():
        foreign = sorted(p.name for p in artifact.iterdir() if p.name not in runtime.folder_entries)
        if foreign:
            why = f"it holds {', '.join(foreign[:3])}, which this tool did not write"
    if why:
        raise ExportError(f"{artifact}: exists and was not written by this tool ({why}); refusing to "
                          f"replace it (move it away or choose another --out)")


def _replace(src: Path, dst: Path) -> None:
    """Move a file or folder onto ``dst``, with normal permissions."""
    if src.is_dir():
        replace_folder(src, dst)
    else:
        normal_permissions(src)
        src.replace(dst)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
