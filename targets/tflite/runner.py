"""Run a MossNet .tflite in the LiteRT interpreter (``ai_edge_litert``).

int8 artifacts take and return int8 tensors: inputs are quantized and outputs dequantized
with each tensor's (scale, zero_point), recorded in the manifest as well."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common import ExportError, Programs
from ..manifest import load_manifest

# litert-torch names a signature's tensors by position: args_0, args_1, ... and output_0.
# In manifest order: context(thumbnail) -> modulation, upscale_patch(patch, modulation) -> hr_patch.
SIGNATURES = {"context": (("args_0",), "output_0"),
              "upscale_patch": (("args_0", "args_1"), "output_0")}


def interpreter(path: str | Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise ExportError("LiteRT is not installed: pip install -e '.[tflite]'") from None
    return Interpreter(model_path=str(path))


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(detail["dtype"])


def dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    return y if detail["dtype"] == np.float32 else (y.astype(np.float32) - zero_point) * scale


def io_quantization(path: str | Path) -> dict | None:
    """{signature: {tensor: {dtype, scale, zero_point}}}, or None for a float model."""
    it, out = interpreter(path), {}
    for name in SIGNATURES:
        runner = it.get_signature_runner(name)
        details = {**runner.get_input_details(), **runner.get_output_details()}
        out[name] = {t: {"dtype": np.dtype(d["dtype"]).name, "scale": float(d["quantization"][0]),
                         "zero_point": int(d["quantization"][1])} for t, d in details.items()}
    return None if all(t["dtype"] == "float32" for s in out.values() for t in s.values()) else out


def tflite_programs(path: str | Path) -> Programs:
    it = interpreter(path)
    runners = {name: it.get_signature_runner(name) for name in SIGNATURES}

    def call(name: str, *arrays: np.ndarray) -> np.ndarray:
        runner = runners[name]
        inputs, output = SIGNATURES[name]
        ins, outs = runner.get_input_details(), runner.get_output_details()
        result = runner(**{k: quantize(a, ins[k]) for k, a in zip(inputs, arrays)})
        return dequantize(result[output], outs[output])

    return (lambda thumb: call("context", thumb)), (lambda patch, mod: call("upscale_patch", patch, mod))


def load(artifact: str | Path, scale: int | None = None) -> tuple[Programs, dict]:
    manifest = load_manifest(artifact, "tflite", scale)
    return tflite_programs(artifact), manifest
