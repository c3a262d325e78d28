"""Export MossNet to Core ML: two mlprogram packages (iOS 17+) in one artifact folder.

``fp32`` / ``fp16`` convert the float programs at that compute precision; ``w8`` adds int8
per-channel symmetric weights (the recipe's weight scheme) with fp16 compute; ``w8a8``
converts the PT2E int8 pipeline from ``quantize.ptq`` (weights folded to int8, activations
quantize/dequantize) with fp16 compute, so that the Neural Engine can run it; fp16 arithmetic
between the int8 codes flips some of them, so ``compute="fp32"`` exists to check that the
conversion carries the int8 program exactly. A multifunction package would need iOS 18, so the
two programs ship as ``context.mlpackage`` and ``upscale_patch.mlpackage`` in
``mossnet_<variant>_x<scale>_<precision>.coreml/``."""
from __future__ import annotations

import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

from ..common import artifact_name, export_source, measure_parity, published
from ..manifest import build_manifest, write_manifest
from .runner import PROGRAMS, coremltools, interpreter_programs

PRECISIONS = ("fp32", "fp16", "w8", "w8a8")


def convert(ct, exported, name: str, examples, compute_precision):
    inputs, output = PROGRAMS[name]
    return ct.convert(exported.run_decompositions({}),
                      inputs=[ct.TensorType(name=n, shape=tuple(e.shape), dtype=np.float32)
                              for n, e in zip(inputs, examples)],
                      outputs=[ct.TensorType(name=output, dtype=np.float32)],
                      convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17,
                      compute_precision=compute_precision)


def quantize_weights(ct, mlmodel):
    config = ct.optimize.coreml.OptimizationConfig(global_config=ct.optimize.coreml.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=0))
    return ct.optimize.coreml.linear_quantize_weights(mlmodel, config=config)


def export(ckpt: str, precision: str, out_dir: str | Path, quantized: str | None = None,
           patch: int | None = None, compute: str | None = None) -> Path:
    """``compute`` ("fp16" or "fp32") overrides the arithmetic: fp32 for ``fp32``, else fp16."""
    ct = coremltools()
    source = export_source(ckpt, "ptq" if precision == "w8a8" else None, quantized, patch)
    compute = compute or ("fp32" if precision == "fp32" else "fp16")
    arithmetic = {"fp16": ct.precision.FLOAT16, "fp32": ct.precision.FLOAT32}.get(compute)
    if arithmetic is None:
        raise ValueError(f"compute must be fp16 or fp32, not {compute!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = out_dir / artifact_name(source, precision, ".coreml")
    tmp = Path(tempfile.mkdtemp(prefix=f".{artifact.name}.", dir=out_dir))
    try:
        for name, exported in source.exported(fold_weights=precision == "w8a8").items():
            mlmodel = convert(ct, exported, name, source.examples[name], arithmetic)
            if precision == "w8":
                mlmodel = quantize_weights(ct, mlmodel)
            mlmodel.save(str(tmp / f"{name}.mlpackage"))
        with published(artifact):
            if artifact.exists():
                shutil.rmtree(artifact)
            tmp.rename(artifact)
            parity = measure_parity(interpreter_programs(artifact), source.reference, source.tiling)
            write_manifest(artifact, build_manifest(
                runtime="coreml", precision=precision, artifact=artifact,
                arch=f"mossnet-{source.model.cfg.variant}", scale=source.tiling.scale,
                checkpoint_sha256=source.checkpoint_sha256, tiling=source.tiling,
                modulation_dim=source.model.cfg.modulation_dim,
                toolkit={"coremltools": version("coremltools"), "format": "mlprogram",
                         "minimum_deployment_target": "iOS17", "compute_precision": compute},
                parity={"reference": source.reference_name, "output_psnr_db": round(parity, 2),
                        "checked_with": "targets.coreml.mil_interpreter (Linux)",
                        "images": "parity_images(): crops of the photos installed with scikit-learn"},
                files={name: f"{name}.mlpackage" for name in PROGRAMS}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return artifact
