"""``python -m targets.coreml verify ARTIFACT [--json REPORT] [--fold]``: the check only a Mac can
make. Core ML itself (``MLModel.predict``) runs the artifact with each compute unit set
(``COMPUTE_UNITS``: CPU only, CPU and GPU, all, which lets Core ML use the Neural Engine) on the
parity images its manifest names, and each output is compared with the reference computed here
(float PyTorch, or the int8 PyTorch program the artifact was converted from) against the
artifact's bound. The JSON report says, per compute unit and per image, PSNR and pass or fail;
``--fold`` writes it into the manifest as ``device_parity``.

Off macOS there is no ``predict``: the command refuses with one line. Everything before the
predict call (arguments, artifact and manifest checks, references, report, folding) is one code
path with the predict function as its only seam (``verify(..., predict=...)``)."""
from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path

REPORT_SCHEMA = "mossnet-coreml-device-parity"
COMPUTE_UNITS = ("CPU_ONLY", "CPU_AND_GPU", "ALL")  # names of coremltools.ComputeUnit
REAL_PREDICT = "coremltools MLModel.predict"


def refuse_off_macos(system: str = sys.platform) -> str | None:
    """The one line that says why this cannot run here, or None on macOS."""
    if system == "darwin":
        return None
    return (f"error: python -m targets.coreml verify needs macOS (Core ML's predict exists only there; "
            f"on {system} the exporter's MIL interpreter gave the manifest's parity)")


def coreml_predict(artifact: Path, unit: str):
    """The artifact's two programs run by Core ML with ``unit`` compute units (macOS only)."""
    from .runtime import predict_programs
    return predict_programs(artifact, unit)


def load_artifact(artifact: str | Path) -> tuple[Path, dict]:
    """The artifact and its manifest, checked as the loader does (hash, fields, packages against
    the manifest)."""
    from .. import registry
    from ..manifest import load_manifest
    from .checks import check_manifest_matches_spec
    artifact = Path(artifact)
    rt = registry.get("coreml")
    manifest = load_manifest(artifact, rt.name, [p.name for p in rt.precisions])
    rt.check_file(artifact)
    check_manifest_matches_spec(artifact, manifest)
    return artifact, manifest


def parity_tiles(manifest: dict, artifact: Path):
    """The parity images the manifest names, rebuilt here (refused if one cannot be)."""
    from ..parity import parity_images
    from ..runtime import ExportError
    available = dict(parity_images())
    named = list(manifest["parity"].get("images") or {})
    missing = [name for name in named if name not in available]
    if not named or missing:
        raise ExportError(f"{artifact}: its manifest names parity images this machine cannot rebuild "
                          f"({', '.join(missing) or 'none named'}); install scikit-learn as at export")
    return [(name, available[name]) for name in named]


def reference(manifest: dict, artifact: Path, ckpt: str | Path | None, quantized: str | Path | None):
    """The programs the artifact's parity is measured against, from the checkpoint (and int8
    pipeline) it was exported from; refused if those are not the ones the manifest records."""
    from mossnet.core.checkpoint import DEFAULT_CHECKPOINT

    from .. import registry
    from ..runtime import ExportError
    from ..source import export_source
    precision = registry.get("coreml").precision(manifest["precision"])
    source = export_source(ckpt or DEFAULT_CHECKPOINT, precision, quantized, manifest["tiling"]["patch"])
    if source.checkpoint_sha256 != manifest["model"]["checkpoint_sha256"]:
        raise ExportError(f"{artifact}: exported from another checkpoint than {ckpt or DEFAULT_CHECKPOINT} (pass --ckpt)")
    if source.pipeline != manifest.get("quantized_pipeline"):
        raise ExportError(f"{artifact}: converted from another int8 pipeline than the one found (pass --quantized)")
    return source.reference, source.tiling, precision


def verify(artifact: str | Path, ckpt: str | Path | None = None, quantized: str | Path | None = None,
           predict: Callable = coreml_predict, predict_name: str = REAL_PREDICT,
           units: tuple[str, ...] = COMPUTE_UNITS) -> dict:
    """The device-parity report of ``artifact``: ``predict(artifact, unit)`` gives the programs
    run with each compute unit set."""
    from ..parity import parity_per_image
    artifact, manifest = load_artifact(artifact)
    images = parity_tiles(manifest, artifact)
    ref, tiling, precision = reference(manifest, artifact, ckpt, quantized)
    bound = precision.parity_bound_db
    results = {}
    for unit in units:
        per_image = parity_per_image(predict(artifact, unit), ref, tiling, images)
        lowest = round(min(per_image.values()), 2)
        results[unit] = {"images": {name: round(db, 2) for name, db in per_image.items()},
                         "output_psnr_db": lowest, "pass": lowest >= bound}
    return {"schema": REPORT_SCHEMA, "schema_version": 1, "artifact": manifest["artifact"]["file"],
            "sha256": manifest["artifact"]["sha256"], "precision": manifest["precision"],
            "reference": manifest["parity"]["reference"], "bound_db": bound, "predict": predict_name,
            "machine": machine(), "compute_units": results, "pass": all(r["pass"] for r in results.values())}


def machine() -> dict:
    """Where the predict ran (the Mac and its coremltools)."""
    from importlib.metadata import version
    return {"system": platform.system(), "release": platform.mac_ver()[0] or platform.release(),
            "machine": platform.machine(), "coremltools": version("coremltools")}


def write_report(report: dict, path: str | Path) -> Path:
    from mossnet.core.atomic import atomic_write
    path = Path(path)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=1) + "\n"))
    return path


def fold(artifact: str | Path, report: dict) -> Path:
    """Write ``report`` into the artifact's manifest as ``device_parity`` (replacing an earlier
    one); refused unless the report is of this very artifact."""
    from ..manifest import manifest_path, write_manifest
    from ..runtime import ExportError
    artifact, manifest = load_artifact(artifact)
    if report.get("schema") != REPORT_SCHEMA or report.get("sha256") != manifest["artifact"]["sha256"]:
        raise ExportError(f"{artifact}: the report is not a device-parity report of this artifact (SHA-256 differs)")
    manifest["device_parity"] = {k: report[k] for k in ("predict", "machine", "bound_db", "compute_units", "pass")}
    write_manifest(artifact, manifest)
    return manifest_path(artifact)


def summary_lines(report: dict) -> list[str]:
    """What the terminal shows: one line per compute unit."""
    lines = [(f"{report['artifact']} ({report['precision']}) against {report['reference']}, bound "
              f"{report['bound_db']} dB, run by {report['predict']}:")]
    for unit, r in report["compute_units"].items():
        lines.append(f"  {unit:12s} {r['output_psnr_db']:7.2f} dB  {'pass' if r['pass'] else 'FAIL'}")
    return lines


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m targets.coreml verify", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("artifact", metavar="ARTIFACT", help="a .coreml folder with its manifest beside it")
    p.add_argument("--json", metavar="REPORT", default=None,
                   help="where the report goes (default ARTIFACT.device_parity.json)")
    p.add_argument("--fold", action="store_true", help="also write the report into the manifest as device_parity")
    p.add_argument("--ckpt", default=None, help="the float checkpoint it was exported from (default: shipped XS x4)")
    p.add_argument("--quantized", default=None, metavar="DIR", help="w8a8: the int8 pipeline folder it came from")
    return p


def main(argv=None, predict: Callable = coreml_predict, predict_name: str = REAL_PREDICT,
         system: str = sys.platform) -> int:
    """The command: refuse off macOS, else verify, write the report, fold on request; exit 1
    when a compute unit misses the bound. ``predict``/``system`` are the test seam."""
    args = parser().parse_args(argv)
    refusal = refuse_off_macos(system)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    from mossnet.core.errors import run_cli

    def body() -> int:
        report = verify(args.artifact, args.ckpt, args.quantized, predict, predict_name)
        path = write_report(report, args.json or f"{Path(args.artifact)}.device_parity.json")
        if args.fold:
            fold(args.artifact, report)
        print("\n".join(summary_lines(report) + [f"wrote {path}" + (" and device_parity into the manifest" if args.fold else "")]))
        return 0 if report["pass"] else 1
    return run_cli(body)
