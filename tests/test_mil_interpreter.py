"""The MIL interpreter, op by op, against an oracle that shares no code with it (numpy loops),
on the cases MossNet's converter does not emit today: asymmetric pads, "same" padding with
strides, groups, dilation, slice masks. And it refuses what it does not model."""
import itertools

import numpy as np
import pytest

pytest.importorskip("coremltools")
from coremltools.converters.mil import Builder as mb  # noqa: E402

from targets.coreml.mil_interpreter import MILInterpreter, _checked  # noqa: E402


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


@pytest.mark.parametrize("pad_type,pads,stride,dilation,groups", CONV_CASES)
def test_conv_matches_the_oracle(pad_type, pads, stride, dilation, groups):
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
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-4


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
