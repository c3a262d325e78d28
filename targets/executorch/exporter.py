"""Export MossNet to ExecuTorch: both programs lowered to XNNPACK in one .pte.

fp32 lowers the float programs; int8-ptq / int8-qat lower the quantized pipeline folder
written by ``quantize.ptq`` / ``quantize.qat`` (weights folded to int8 for XNNPACK)."""
from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from mossnet.image_io import atomic_write

from ..common import artifact_name, export_source, measure_parity, published
from ..manifest import build_manifest, write_manifest
from .runner import load_runtime, pte_programs

PRECISIONS = ("fp32", "int8-ptq", "int8-qat")


def export(ckpt: str, precision: str, out_dir: str | Path, quantized: str | None = None,
           patch: int | None = None) -> Path:
    load_runtime()  # fail early, with the install hint, if ExecuTorch is missing
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    int8 = precision.startswith("int8")
    source = export_source(ckpt, precision.split("-")[1] if int8 else None, quantized, patch)
    program = to_edge_transform_and_lower(source.exported(fold_weights=int8),
                                          partitioner=[XnnpackPartitioner()]).to_executorch()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = out_dir / artifact_name(source, precision, ".pte")
    with published(artifact):
        atomic_write(artifact, lambda tmp: Path(tmp).write_bytes(program.buffer))
        parity = measure_parity(pte_programs(artifact), source.reference, source.tiling)
        write_manifest(artifact, build_manifest(
            runtime="executorch", precision=precision, artifact=artifact, arch=f"mossnet-{source.model.cfg.variant}",
            scale=source.tiling.scale, checkpoint_sha256=source.checkpoint_sha256, tiling=source.tiling,
            modulation_dim=source.model.cfg.modulation_dim,
            toolkit={"executorch": version("executorch"), "backend": "XNNPACK"},
            parity={"reference": source.reference_name, "output_psnr_db": round(parity, 2),
                    "images": "parity_images(): crops of the photos installed with scikit-learn"},
            files={"context": "method context", "upscale_patch": "method upscale_patch"}))
    return artifact
