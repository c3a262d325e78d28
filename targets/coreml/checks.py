"""Structural checks of a Core ML artifact, one function per concern, run by the publish step
(``CoreML.check_artifact``, before anything is written) and by the tests.

Parity alone cannot see what a precision's name promises: a w8 build that was never quantized
scores about 70 dB against float PyTorch, far above its bound, and a w8a8 build that computes in
fp32 scores better than the real one. So what each precision claims is read from the saved
program itself: int8 weights behind ``constexpr`` dequantize ops (w8, w8a8), quantize /
dequantize around every convolution (w8a8), fp16 arithmetic where fp16 compute is claimed, and
the manifest's programs and tensors equal to the packages' model descriptions."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from mossnet.core.tiling import PROGRAMS

from ..runtime import ExportError

# coremltools 9 emits the first for iOS 17 targets, the second (iOS 18's op) for newer ones
WEIGHT_DEQUANTIZE_OPS = ("constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")
# ops that change a tensor's type rather than compute on it
TYPE_OPS = ("const", "cast", "quantize", "dequantize") + WEIGHT_DEQUANTIZE_OPS


def main_functions(artifact: str | Path) -> dict:
    """{program: its MIL ``main`` function}, read back from the saved packages."""
    from .mil_interpreter import load_program
    from .runtime import program_paths
    return {name: load_program(path).functions["main"] for name, path in program_paths(artifact).items()}


def _dtype_name(var) -> str:
    from coremltools.converters.mil.mil import types
    return types.builtin_to_string(var.dtype)


def _producer(var):
    return getattr(var, "op", None)


def check_weights_int8(artifact: str | Path, functions: dict | None = None, float_convs: int = 0) -> None:
    """w8 / w8a8: every convolution's weight is int8 data expanded by a ``constexpr`` dequantize
    op, but for the ``float_convs`` the int8 pipeline keeps float (its recipe's float layers,
    recorded in the manifest), and the weight files are smaller than those weights would be in
    fp16."""
    functions = functions or main_functions(artifact)
    elements, floats = 0, []
    for name, fn in functions.items():
        for op in fn.operations:
            if op.op_type != "conv":
                continue
            source = _producer(op.inputs["weight"])
            if source is None or source.op_type not in WEIGHT_DEQUANTIZE_OPS:
                floats.append(f"{name}'s {op.name}")
                continue
            data = next(iter(source.inputs.values())).val
            if np.asarray(data).dtype not in (np.int8, np.uint8):
                raise ExportError(f"{artifact}: {name}'s {op.name} weight data is {np.asarray(data).dtype}, not int8")
            elements += int(np.prod(op.inputs["weight"].shape))
    if len(floats) != float_convs:
        raise ExportError(f"{artifact}: {', '.join(floats[:3]) or 'no conv'} {'has' if len(floats) == 1 else 'have'} "
                          f"float weights, not int8 behind {' or '.join(WEIGHT_DEQUANTIZE_OPS)}, where the "
                          f"recipe keeps {float_convs} float (the build is not weight-quantized as claimed)")
    from .runtime import program_paths
    packages = program_paths(artifact)
    stored = sum(p.stat().st_size for name in functions for p in packages[name].rglob("weight.bin"))
    if stored >= 2 * elements:
        raise ExportError(f"{artifact}: weight files take {stored} bytes, not less than the {2 * elements} "
                          f"its conv weights take in fp16")


def check_activations_int8(artifact: str | Path, functions: dict | None = None, float_convs: int = 0) -> None:
    """w8a8: the program quantizes and dequantizes, and every convolution reads its input from a
    ``dequantize`` op (int8 activations), as the int8 PyTorch program does, but for the
    ``float_convs`` it keeps float."""
    functions = functions or main_functions(artifact)
    floats = []
    for name, fn in functions.items():
        ops = Counter(op.op_type for op in fn.operations)
        if not ops["quantize"] or not ops["dequantize"]:
            raise ExportError(f"{artifact}: {name} holds {ops['quantize']} quantize and {ops['dequantize']} "
                              f"dequantize ops (activations are not int8)")
        for op in fn.operations:
            source = _producer(op.inputs["x"]) if op.op_type == "conv" else None
            if op.op_type == "conv" and (source is None or source.op_type != "dequantize"):
                floats.append(f"{name}'s {op.name}")
    if len(floats) != float_convs:
        raise ExportError(f"{artifact}: {', '.join(floats[:3]) or 'no conv'} {'reads' if len(floats) == 1 else 'read'} "
                          f"a float activation, not a dequantized int8 one, where the recipe keeps "
                          f"{float_convs} float")


def check_compute_dtype(artifact: str | Path, compute: str, functions: dict | None = None) -> None:
    """Every float result of an op that computes (all but constants, casts and (de)quantization;
    reshaping int8 codes is no float result) has the dtype of the claimed compute precision:
    fp16 where fp16 is claimed, fp32 where fp32 is."""
    want = compute  # "fp16" / "fp32": the manifest's compute_precision is also MIL's dtype name
    functions = functions or main_functions(artifact)
    for name, fn in functions.items():
        computing = [op for op in fn.operations if op.op_type not in TYPE_OPS]
        wrong = [op for op in computing if _dtype_name(op.outputs[0]) in ("fp16", "fp32") and
                 _dtype_name(op.outputs[0]) != want]
        if wrong or not computing:
            op = wrong[0] if wrong else None
            raise ExportError(f"{artifact}: {name} claims {compute} compute but "
                              + (f"{op.op_type} {op.name} makes {_dtype_name(op.outputs[0])}" if op else "computes nothing"))


def check_manifest_matches_spec(artifact: str | Path, manifest: dict) -> None:
    """The manifest's programs are the folder's packages, and each package's model description
    (input and output names, shapes, dtypes) is what the manifest says (``validate.check_declared``)."""
    from ..validate import check_declared
    from .runtime import CoreML
    named = (manifest.get("artifact") or {}).get("programs")
    if named != {name: f"{name}.mlpackage" for name in PROGRAMS}:
        raise ExportError(f"{artifact}: the manifest names programs {named}, not the packages "
                          f"{', '.join(f'{n}.mlpackage' for n in PROGRAMS)}")
    check_declared(manifest, CoreML().declare(Path(artifact)), Path(artifact))
