"""LiteRT (TFLite): one ``.tflite`` with two signatures, converted by litert-torch (no second
model definition, no TensorFlow) and run in the ``ai_edge_litert`` interpreter.

int8 converts the quantized pipeline folder in litert's static q/dq mode: a full-integer model
with int8 inputs and outputs, whose (scale, zero point) the manifest records and the runner
applies. The graph is the unfolded one litert-torch expects (``quantize.recipe``)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mossnet.core.tiling import PROGRAMS

from ..runtime import ExportError, Precision, Programs, Runtime, native_stderr_filtered

# litert-torch names a signature's tensors by position, args_0, args_1, ... -> output_0, in
# the order of mossnet.core.pipeline.PROGRAMS.
SIGNATURES = {name: (tuple(f"args_{i}" for i in range(len(inputs))), "output_0")
              for name, (inputs, _) in PROGRAMS.items()}


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """float -> the tensor's dtype with its (scale, zero point); float tensors pass through."""
    scale, zero_point = detail["quantization"]
    if detail["dtype"] == np.float32:
        return x.astype(np.float32)
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(detail["dtype"])


def dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    return y if detail["dtype"] == np.float32 else (y.astype(np.float32) - zero_point) * scale


class LiteRT(Runtime):
    name = "tflite"
    label = "LiteRT"
    packages = ("litert-torch", "ai-edge-litert")
    extra = "tflite"
    suffix = ".tflite"
    precisions = (Precision("fp32"), Precision("int8", "ptq", 45.0))
    default_precision = "int8"
    native_loader = True

    def modules(self) -> tuple[str, ...]:
        return ("ai_edge_litert",)  # running needs only the interpreter; converting checks litert_torch

    def import_runtime(self) -> None:
        self.require()
        import ai_edge_litert.interpreter  # noqa: F401

    def set_threads(self, threads: int | None) -> str:
        self.threads = threads
        return "runtime default" if not threads else f"{threads} (Interpreter num_threads)"

    def check_file(self, path: Path) -> None:
        """The TFLite flatbuffer identifier ``TFL3`` and a root offset inside the file."""
        if not path.is_file():
            raise ExportError(f"{path}: not a .tflite file")
        with open(path, "rb") as f:
            head = f.read(8)
        if len(head) < 8 or head[4:8] != b"TFL3":
            raise ExportError(f"{path}: not a LiteRT model (no TFL3 flatbuffer identifier)")
        if int.from_bytes(head[:4], "little") >= path.stat().st_size:
            raise ExportError(f"{path}: truncated LiteRT model")

    def declare(self, path: Path) -> dict:
        """Signatures, with each tensor's shape, dtype and (scale, zero point), in the order of
        ``mossnet.core.pipeline.PROGRAMS`` (litert-torch names tensors by position)."""
        it = self.interpreter(path)
        out = {}
        for name in it.get_signature_list():
            runner = it.get_signature_runner(name)
            ins, outs = runner.get_input_details(), runner.get_output_details()
            expected = SIGNATURES.get(name, ((), ""))
            if set(ins) != set(expected[0]) or set(outs) != {expected[1]}:
                raise ExportError(f"{path}: signature {name!r} has tensors {sorted(ins)} -> {sorted(outs)}, "
                                  f"not {list(expected[0])} -> {expected[1]!r}")

            def tensor(key, d):
                return {"key": key, "shape": [int(v) for v in d["shape"]],
                        "dtype": np.dtype(d["dtype"]).name,
                        "quantization": [float(d["quantization"][0]), int(d["quantization"][1])]}
            out[name] = {"inputs": [tensor(k, ins[k]) for k in expected[0]],
                         "outputs": [tensor(expected[1], outs[expected[1]])]}
        return out

    def interpreter(self, path: Path):
        self.require()
        from ai_edge_litert.interpreter import Interpreter
        with native_stderr_filtered():
            return Interpreter(model_path=str(path), num_threads=self.threads)

    def convert(self, source, precision: Precision, path: Path, **options) -> dict:
        try:
            import litert_torch
        except ImportError:
            from ..runtime import ExportError
            raise ExportError("litert-torch is not installed: pip install -e '.[tflite]'") from None
        litert_torch.config.show_progress = False  # dozens of stage lines per export
        logging.getLogger().setLevel(logging.ERROR)  # litert-torch warns per signature on graph modules
        converter = litert_torch.Converter()
        for name in PROGRAMS:
            converter.signature(name, getattr(source, name), source.examples[name])
        int8 = precision.quantized_by is not None
        converter.convert(quant_config=static_qdq_config() if int8 else None).export(str(path))
        return {"toolkit": self.toolkit(), "io_quantization": self.io_quantization(path),
                "files": {name: f"signature {name}" for name in PROGRAMS}}

    def io_quantization(self, path: Path) -> dict | None:
        """{signature: {tensor: {dtype, scale, zero_point}}}, or None for a float model."""
        it, out = self.interpreter(path), {}
        for name in SIGNATURES:
            runner = it.get_signature_runner(name)
            details = {**runner.get_input_details(), **runner.get_output_details()}
            out[name] = {t: {"dtype": np.dtype(d["dtype"]).name, "scale": float(d["quantization"][0]),
                             "zero_point": int(d["quantization"][1])} for t, d in details.items()}
        return None if all(t["dtype"] == "float32" for s in out.values() for t in s.values()) else out

    def programs(self, path: Path) -> Programs:
        it = self.interpreter(path)
        with native_stderr_filtered():  # XNNPACK is applied (and announced) at a runner's first call
            runners = {name: it.get_signature_runner(name) for name in SIGNATURES}
            for name, runner in runners.items():
                runner(**{k: np.zeros(d["shape"], d["dtype"]) for k, d in runner.get_input_details().items()})

        def call(name: str, *arrays: np.ndarray) -> np.ndarray:
            runner = runners[name]
            inputs, output = SIGNATURES[name]
            ins, outs = runner.get_input_details(), runner.get_output_details()
            result = runner(**{k: quantize(a, ins[k]) for k, a in zip(inputs, arrays)})
            return dequantize(result[output], outs[output])

        return (lambda thumb: call("context", thumb)), (lambda patch, mod: call("upscale_patch", patch, mod))


def static_qdq_config():
    """litert-torch's switch for 'the graph already holds static q/dq': it only reads whether
    the quantizer's config is dynamic; the quantization itself is ours."""
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )
    from litert_torch.quantize.quant_config import QuantConfig
    return QuantConfig(pt2e_quantizer=PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True)))
