"""The MIL interpreter, op by op, against an oracle that shares no code with it (numpy loops),
on the cases MossNet's converter does not emit today: asymmetric pads, "same" padding with
strides, groups, dilation, slice masks. And it refuses what it does not model."""
import itertools

import numpy as np
import pytest

pytest.importorskip("coremltools")
from coremltools.converters.mil import Builder as mb

from targets.coreml import mil_interpreter
from targets.coreml.mil_interpreter import MODES, MILInterpreter, _checked


def conv_oracle(x, w, b, stride, pads, dilation, groups):
    """Direct convolution with explicit loops. pads = (top, bottom, left, right)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + pads[0] + pads[1], wd + pads[2] + pads[3]), np.float64)
    xp[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + wd] = x
    oh = (xp.shape[2] - dilation * (kh - 1) - 1) // stride + 1
    ow = (xp.shape[3] - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((n, o, oh, ow))
    per_group = o // groups
    for oc, i, j in itertools.product(range(o), range(oh), range(ow)):
        g = oc // per_group
        patch = xp[0, g * cg:(g + 1) * cg, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                   j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
        out[0, oc, i, j] = (patch * w[oc]).sum() + (0 if b is None else b[oc])
    return out


def same_pads(size, k, stride, dilation, lower):
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    return (total - total // 2, total // 2) if lower else (total // 2, total - total // 2)


CONV_CASES = [  # pad_type, pads (custom), stride, dilation, groups
    ("custom", (0, 2, 1, 0), 1, 1, 1), ("custom", (2, 1, 0, 3), 2, 1, 1), ("same", None, 2, 1, 1),
    ("same_lower", None, 2, 1, 1), ("same", None, 1, 2, 1), ("valid", None, 2, 2, 1), ("same", None, 1, 1, 2),
    ("custom", (1, 1, 2, 2), 3, 1, 2)]


def conv_error(pad_type, pads, stride, dilation, groups) -> float:
    """Largest difference between the interpreter's conv and the oracle's on one case."""
    rng = np.random.default_rng(stride * 10 + dilation + groups)
    x = rng.normal(size=(1, 4, 8, 6)).astype(np.float32)  # even sides: "same" with stride 2 pads unevenly
    w = rng.normal(size=(6, 4 // groups, 3, 3)).astype(np.float32)
    b = rng.normal(size=6).astype(np.float32)
    extra = {"pad": list(pads)} if pad_type == "custom" else {}

    @mb.program(input_specs=[mb.TensorSpec(shape=x.shape)])
    def program(inp):
        return mb.conv(x=inp, weight=w, bias=b, strides=[stride] * 2, dilations=[dilation] * 2, groups=groups,
                       pad_type=pad_type, **extra)
    got = next(iter(MILInterpreter(program)({"inp": x}).values()))
    if pad_type in ("same", "same_lower"):
        (top, bottom), (left, right) = (same_pads(x.shape[2 + i], 3, stride, dilation, pad_type == "same_lower")
                                        for i in range(2))
        pads = (top, bottom, left, right)
    ref = conv_oracle(x.astype(np.float64), w.astype(np.float64), b, stride, pads or (0, 0, 0, 0), dilation, groups)
    return float("inf") if got.shape != ref.shape else float(np.abs(got - ref).max())


@pytest.mark.parametrize("pad_type,pads,stride,dilation,groups", CONV_CASES)
def test_conv_matches_the_oracle(pad_type, pads, stride, dilation, groups):
    assert conv_error(pad_type, pads, stride, dilation, groups) < 1e-4


class SymmetricPadF:
    """torch.nn.functional with a planted defect: pad repeats the first pad of each axis on
    both sides (asymmetric padding read as symmetric)."""
    def __getattr__(self, name):
        return getattr(torch_functional(), name)

    @staticmethod
    def pad(x, pads):
        left, _, top, _ = pads
        return torch_functional().pad(x, (left, left, top, top))


def torch_functional():
    import torch.nn.functional as F
    return F


PLANTED = [  # (defect, a stride-2 case with asymmetric padding that must catch it)
    ("same padding ignores the stride", ("same", None, 2, 1, 1)),  # the behaviour the review found
    ("asymmetric pads read as symmetric", ("custom", (2, 1, 0, 3), 2, 1, 1)),
    ("asymmetric pads read as symmetric", ("same", None, 2, 1, 1))]


@pytest.mark.parametrize("defect,case", PLANTED)
def test_the_conv_test_catches_a_planted_padding_defect(defect, case, monkeypatch):
    """Planted defect: a stride-2 conv with asymmetric padding must then fail the oracle."""
    assert case in CONV_CASES
    if defect == "same padding ignores the stride":
        same = mil_interpreter._same_pads
        monkeypatch.setattr(mil_interpreter, "_same_pads", lambda size, k, stride, d, lower: same(size, k, 1, d, lower))
    else:
        monkeypatch.setattr(mil_interpreter, "F", SymmetricPadF())
    try:
        error = conv_error(*case)
    except ValueError as exc:  # the interpreter's own shape check refused the result: caught too
        assert "made shape" in str(exc)
        return
    assert error > 1e-2, f"{case} passes with the defect planted ({defect})"


def test_slice_masks_match_numpy():
    x = np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6)

    @mb.program(input_specs=[mb.TensorSpec(shape=x.shape)])
    def program(inp):
        return mb.slice_by_index(x=inp, begin=[1, 1, 0], end=[2, 4, 5], stride=[1, 2, 2],
                                 begin_mask=[False, False, True], end_mask=[False, True, False],
                                 squeeze_mask=[True, False, False])
    got = next(iter(MILInterpreter(program)({"inp": x}).values()))
    assert np.array_equal(got, x[1, 1::2, 0:5:2])


def test_a_result_unlike_its_declaration_is_refused():
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3))])
    def program(inp):
        return mb.relu(x=inp)
    out = program.functions["main"].outputs[0]
    assert _checked(np.zeros((1, 3), np.float32), out, "relu").shape == (1, 3)
    with pytest.raises(ValueError, match="shape"):
        _checked(np.zeros((1, 4), np.float32), out, "relu")
    with pytest.raises(ValueError, match="float16"):
        _checked(np.zeros((1, 3), np.float16), out, "relu")


def test_a_feed_of_another_shape_is_refused():
    """Swapped inputs (a patch fed as the modulation) must not broadcast their way through."""
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, 4, 4)), mb.TensorSpec(shape=(1, 3, 1, 1))])
    def program(patch, modulation):
        return mb.mul(x=patch, y=modulation)
    run = MILInterpreter(program)
    names = [v for v in program.functions["main"].inputs]
    ok = {names[0]: np.ones((1, 3, 4, 4)), names[1]: np.ones((1, 3, 1, 1))}
    assert next(iter(run(ok).values())).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="has shape"):
        run({names[0]: ok[names[1]], names[1]: ok[names[0]]})


def fp16_quantize_program(scale):
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4096))], opset_version=ct_target())
    def program(x):
        h = mb.cast(x=x, dtype="fp16")
        q = mb.quantize(input=h, scale=np.float16(scale), output_dtype="int8")
        return mb.cast(x=mb.dequantize(input=q, scale=np.float16(scale)), dtype="fp32")
    return program


def ct_target():
    import coremltools as ct
    return ct.target.iOS17


def test_the_modes_bound_the_fp16_range():
    """fp16_per_op and fp16_quantize_division differ only in quantize's division; fp32 keeps
    what fp16 storage would round away."""
    x = np.random.default_rng(0).uniform(-1, 1, (1, 4096)).astype(np.float32)
    program = fp16_quantize_program(0.0071)
    out = {m: next(iter(MILInterpreter(program, m)({"x": x}).values())) for m in MODES}
    h, scale = x.astype(np.float16), np.float16(0.0071)
    codes_fp32 = np.clip(np.round(h.astype(np.float32) / np.float32(scale)), -128, 127)
    codes_fp16 = np.clip(np.round((h / scale).astype(np.float32)), -128, 127)
    assert (codes_fp32 != codes_fp16).any()  # the case is one where the division style matters
    for mode, codes in (("fp16_per_op", codes_fp32), ("fp16_quantize_division", codes_fp16)):
        assert np.array_equal(out[mode], (codes * np.float32(scale)).astype(np.float16).astype(np.float32))
    with pytest.raises(ValueError, match="mode"):
        MILInterpreter(program, "fp8")


def test_mode_fp32_holds_fp16_tensors_in_fp32():
    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3))], opset_version=ct_target())
    def program(x):
        return mb.cast(x=mb.add(x=mb.cast(x=x, dtype="fp16"), y=np.float16(1.0)), dtype="fp32")
    x = np.array([[1e-4, 2048.5, 3.0]], np.float32)
    fp32 = next(iter(MILInterpreter(program, "fp32")({"x": x}).values()))
    fp16 = next(iter(MILInterpreter(program)({"x": x}).values()))
    assert np.array_equal(fp32, x + np.float32(1))  # even the cast to fp16 keeps fp32 values
    assert np.array_equal(fp16, (x.astype(np.float16) + np.float16(1)).astype(np.float32))
    assert not np.array_equal(fp32, fp16)
