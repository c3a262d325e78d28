"""Execute a saved Core ML mlprogram on Linux, where ``MLModel.predict`` does not exist.

The .mlpackage's MIL program is read back with coremltools' own protobuf loader (private:
coremltools is pinned and this module is tested) and run op by op with numpy and torch.

An fp16 program has no single correct execution: Core ML may keep fp32 accumulators, round
after every op, or divide in fp16 inside ``quantize``. So the interpreter runs in one of
``MODES``, which bound that range rather than claim to be Core ML:

- ``fp16_per_op`` (default): each op computes in float32 and its result is rounded to the
  op's declared dtype, so fp16 storage is emulated between ops;
- ``fp16_quantize_division``: the same, but ``quantize`` divides by its scale in fp16, as
  coremltools' own value inference does (``optimize._utils.quantize_by_scale_and_zp``);
- ``fp32``: every declared fp16 tensor is held in float32 (the fp16 weights and scales keep
  their fp16 values): the program's arithmetic without any fp16 rounding.

Only MossNet's op set is supported;
any other op, an op with several outputs, a variable defined nowhere, or a result whose shape
or dtype differs from what the program declares is an error that names it, never a silent
guess."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def load_program(mlpackage: str | Path):
    """The MIL program of a saved .mlpackage (weights read from its blob file)."""
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto
    mlpackage = Path(mlpackage)
    spec = ct.models.MLModel(str(mlpackage), skip_model_load=True).get_spec()
    weights = mlpackage / "Data" / "com.apple.CoreML" / "weights"
    return load_milproto(spec, spec.specificationVersion, file_weights_dir=str(weights))


def _np_dtype(mil_type):
    from coremltools.converters.mil.mil import types
    return np.dtype(types.nptype_from_builtin(mil_type))


def _axis_shape(values: np.ndarray, axis: int | None, ndim: int) -> np.ndarray:
    """Per-channel parameters broadcast along ``axis``; scalars stay scalars."""
    values = np.asarray(values)
    if values.ndim == 0 or axis is None:
        return values
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)


def _dequantize(q, zero_point, scale, axis):
    q = np.asarray(q).astype(np.float32)
    zp = 0 if zero_point is None else _axis_shape(zero_point, axis, q.ndim).astype(np.float32)
    return (q - zp) * _axis_shape(scale, axis, q.ndim).astype(np.float32)


def _quantize(x, zero_point, scale, axis, dtype, divide_in=np.float32):
    """round(x / scale) + zero_point, clipped; ``divide_in`` is the dtype of the division."""
    info = np.iinfo(dtype)
    zp = 0 if zero_point is None else _axis_shape(zero_point, axis, x.ndim).astype(np.float32)
    ratio = np.asarray(x).astype(divide_in) / _axis_shape(scale, axis, x.ndim).astype(divide_in)
    q = np.round(ratio.astype(np.float32)) + zp
    return np.clip(q, info.min, info.max).astype(dtype)


def _same_pads(size: int, kernel: int, stride: int, dilation: int, lower: bool) -> tuple[int, int]:
    """MIL's "same" / "same_lower": output = ceil(size / stride), the total padding split evenly,
    the odd pixel after ("same") or before ("same_lower")."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    small = total // 2
    return (total - small, small) if lower else (small, total - small)


def _conv(x, weight, bias=None, strides=(1, 1), pad_type="valid", pad=None, dilations=(1, 1), groups=1):
    x, w = torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(weight, np.float32))
    strides, dilations = [int(s) for s in strides], [int(d) for d in dilations]
    if pad_type == "custom":
        top, bottom, left, right = (int(p) for p in pad)
        x = F.pad(x, (left, right, top, bottom))
    elif pad_type in ("same", "same_lower"):
        (top, bottom), (left, right) = (_same_pads(x.shape[2 + i], w.shape[2 + i], strides[i], dilations[i],
                                                   pad_type == "same_lower") for i in range(2))
        x = F.pad(x, (left, right, top, bottom))
    elif pad_type != "valid":
        raise NotImplementedError(f"conv pad_type {pad_type!r}")
    b = None if bias is None else torch.from_numpy(np.asarray(bias, np.float32))
    return F.conv2d(x, w, b, stride=tuple(strides), dilation=tuple(dilations), groups=int(groups)).numpy()


def _slice_by_index(x, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    index = []
    for axis in range(x.ndim):
        b = None if begin_mask is not None and begin_mask[axis] else int(begin[axis])
        e = None if end_mask is not None and end_mask[axis] else int(end[axis])
        step = 1 if stride is None else int(stride[axis])
        index.append(int(begin[axis]) if squeeze_mask is not None and squeeze_mask[axis] else slice(b, e, step))
    return x[tuple(index)]


def _concat(values, axis, interleave):
    if interleave:
        raise NotImplementedError("MIL op 'concat' with interleave=True")
    return np.concatenate([np.asarray(v, np.float32) for v in values], axis=axis)


def _pixel_shuffle(x, upscale_factor):
    return F.pixel_shuffle(torch.from_numpy(np.ascontiguousarray(x, np.float32)), int(upscale_factor)).numpy()


OPS = {
    "constexpr_affine_dequantize": lambda quantized_data, zero_point, scale, axis:
        _dequantize(quantized_data, zero_point, scale, int(axis)),
    "dequantize": lambda input, scale, zero_point=None, axis=None:
        _dequantize(input, zero_point, scale, None if axis is None else int(axis)),
    "conv": _conv,
    "relu": lambda x: np.maximum(x, 0),
    "add": lambda x, y: np.add(x, y),
    "mul": lambda x, y: np.multiply(x, y),
    "sub": lambda x, y: np.subtract(x, y),
    "pixel_shuffle": _pixel_shuffle,
    "slice_by_index": _slice_by_index,
    "expand_dims": lambda x, axes: np.expand_dims(x, tuple(int(a) for a in axes)),
    "tile": lambda x, reps: np.tile(x, tuple(int(r) for r in reps)),
    "reshape": lambda x, shape: np.reshape(x, tuple(int(s) for s in shape)),
    "reduce_mean": lambda x, axes=None, keep_dims=False:
        np.mean(x.astype(np.float32), axis=None if axes is None else tuple(int(a) for a in axes), keepdims=bool(keep_dims)),
    "identity": lambda x: x,
    "concat": lambda values, axis, interleave=False: _concat(values, int(axis), bool(interleave)),
}


MODES = ("fp16_per_op", "fp16_quantize_division", "fp32")
DEFAULT_MODE = MODES[0]


class MILInterpreter:
    """Run ``main`` of a loaded MIL program: ``MILInterpreter(load_program(p))({"patch": ...})``;
    ``mode`` is one of ``MODES`` (see the module docstring)."""

    def __init__(self, program, mode: str = DEFAULT_MODE):
        if mode not in MODES:
            raise ValueError(f"interpreter mode {mode!r}; choose from {', '.join(MODES)}")
        self.function = program.functions["main"]
        self.mode = mode

    def _dtype(self, var) -> np.dtype:
        """Where the mode stores ``var``: its declared dtype, but fp16 as float32 in mode fp32."""
        dtype = _np_dtype(var.dtype)
        return np.dtype(np.float32) if self.mode == "fp32" and dtype == np.float16 else dtype

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = {}
        for name, var in self.function.inputs.items():
            if name not in inputs:
                raise KeyError(f"missing input {name!r}")
            value = np.asarray(inputs[name]).astype(self._dtype(var))
            if value.shape != tuple(var.shape):  # a swapped feed must not broadcast its way through
                raise ValueError(f"input {name!r} has shape {value.shape}, the program declares {tuple(var.shape)}")
            env[name] = value
        for op in self.function.operations:
            if len(op.outputs) != 1:
                raise NotImplementedError(f"MIL op {op.op_type!r} with {len(op.outputs)} outputs")
            out = op.outputs[0]
            if op.op_type == "const":
                value = np.asarray(out.val)
                env[out.name] = value.astype(np.float32) if self.mode == "fp32" and value.dtype == np.float16 else value
                continue
            args = {k: self._value(v, env) for k, v in op.inputs.items()}
            if op.op_type == "quantize":
                divide_in = args["input"].dtype if self.mode == "fp16_quantize_division" else np.float32
                value = _quantize(args["input"], args.get("zero_point"), args["scale"],
                                  None if args.get("axis") is None else int(args["axis"]),
                                  np.dtype(str(args["output_dtype"])), divide_in)
            elif op.op_type == "cast":
                value = args["x"].astype(self._dtype(out))
            elif op.op_type in OPS:
                value = np.asarray(OPS[op.op_type](**args)).astype(self._dtype(out))
            else:
                raise NotImplementedError(f"MIL op {op.op_type!r} is not supported by this interpreter")
            env[out.name] = _checked(value, out, op.op_type, self._dtype(out))
        return {v.name: env[v.name] for v in self.function.outputs}

    @staticmethod
    def _value(var, env):
        if isinstance(var, (list, tuple)):
            return [MILInterpreter._value(v, env) for v in var]
        if var.name in env:
            return env[var.name]
        if var.val is None:
            raise ValueError(f"MIL variable {var.name!r} is used before any op defines it")
        return var.val  # an inline constant


def _checked(value: np.ndarray, var, op_type: str, dtype: np.dtype | None = None) -> np.ndarray:
    """The result, if its dtype (``dtype``: where the mode stores it, default the declared one)
    and (concrete) shape are what the program declares for ``var``."""
    dtype = _np_dtype(var.dtype) if dtype is None else dtype
    if value.dtype != dtype:
        raise ValueError(f"MIL op {op_type!r} made {value.dtype} for {var.name!r}, declared {dtype}")
    declared = tuple(var.shape)
    if len(declared) != value.ndim or any(isinstance(d, int) and d != s for d, s in zip(declared, value.shape)):
        raise ValueError(f"MIL op {op_type!r} made shape {value.shape} for {var.name!r}, declared {declared}")
    return value
