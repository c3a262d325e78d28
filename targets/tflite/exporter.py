"""Export MossNet to LiteRT with litert-torch (PyTorch-native: no second model definition).

fp32 converts the float programs. int8 converts the quantized pipeline folder written by
``quantize.ptq`` (or ``--quantized`` a QAT folder) in litert's STATIC q/dq mode, which turns
the graph's quantize/dequantize pairs into a full-integer model with int8 inputs and outputs.
The graph is the unfolded one litert-torch expects (see ``quantize.recipe``)."""
from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path

from mossnet.image_io import atomic_write

from ..common import ExportError, artifact_name, export_source, measure_parity, published
from ..manifest import build_manifest, write_manifest
from .runner import SIGNATURES, io_quantization, tflite_programs

PRECISIONS = ("fp32", "int8")


def static_qdq_config():
    """litert-torch's switch for 'the graph already holds static q/dq': it only reads whether
    the quantizer's config is dynamic; the quantization itself is ours."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    return QuantConfig(pt2e_quantizer=PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True)))


def export(ckpt: str, precision: str, out_dir: str | Path, quantized: str | None = None,
           patch: int | None = None) -> Path:
    try:
        import litert_torch
    except ImportError:
        raise ExportError("litert-torch is not installed: pip install -e '.[tflite]'") from None
    litert_torch.config.show_progress = False  # dozens of stage lines per export
    logging.getLogger().setLevel(logging.ERROR)  # litert-torch warns per signature on graph modules
    int8 = precision == "int8"
    source = export_source(ckpt, "ptq" if int8 else None, quantized, patch)
    converter = litert_torch.Converter()
    for name in SIGNATURES:
        converter.signature(name, getattr(source, name), source.examples[name])
    model = converter.convert(quant_config=static_qdq_config() if int8 else None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = out_dir / artifact_name(source, precision, ".tflite")
    with published(artifact):
        atomic_write(artifact, lambda tmp: model.export(tmp))
        parity = measure_parity(tflite_programs(artifact), source.reference, source.tiling)
        write_manifest(artifact, build_manifest(
            runtime="tflite", precision=precision, artifact=artifact, arch=f"mossnet-{source.model.cfg.variant}",
            scale=source.tiling.scale, checkpoint_sha256=source.checkpoint_sha256, tiling=source.tiling,
            modulation_dim=source.model.cfg.modulation_dim,
            toolkit={"litert-torch": version("litert-torch"), "ai-edge-litert": version("ai-edge-litert")},
            parity={"reference": source.reference_name, "output_psnr_db": round(parity, 2),
                    "images": "parity_images(): crops of the photos installed with scikit-learn"},
            io_quantization=io_quantization(artifact),
            files={"context": "signature context", "upscale_patch": "signature upscale_patch"}))
    return artifact
