"""Core ML artifacts checked on Linux by executing the saved mlprogram (no mocks: the real
coremltools conversion, the real .mlpackage on disk, our interpreter of its MIL ops)."""
import json

import numpy as np
import pytest

from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, load_model
from mossnet.core.pipeline import model_tiling, torch_programs
from targets import registry
from targets.coreml.mil_interpreter import MILInterpreter
from targets.coreml.runtime import interpreter_programs
from targets.manifest import load_manifest
from targets.parity import measure_parity, parity_images
from targets.selftest import check_selftest, selftest_path

from conftest import EVAL_DIR, export

EVAL = EVAL_DIR


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_CHECKPOINT)[0]


# w8a8 is the int8 program: with fp32 arithmetic it must reproduce it like the other int8
# artifacts (>= 45 dB); the shipped build computes in fp16 (for the Neural Engine), which flips
# some int8 codes where a value sits near a rounding edge, so it gets a bound like fp16's own
# loosening (a wrong scale or zero point gives about 20 dB, so both still catch a broken export).
@pytest.mark.parametrize("precision,compute", [(p.name, None) for p in registry.get("coreml").precisions]
                         + [("w8a8", "fp32")])
def test_coreml_parity(precision, compute, quantized, model, tmp_path):
    coreml = registry.get("coreml")
    bound = 45.0 if compute == "fp32" else coreml.precision(precision).parity_bound_db
    artifact = export("coreml", precision, tmp_path, quantized if precision == "w8a8" else None, compute=compute)
    manifest = load_manifest(artifact, "coreml", [p.name for p in coreml.precisions], scale=4)
    assert manifest["parity"]["output_psnr_db"] >= bound
    if precision == "w8a8":
        from quantize.program import load_pipeline
        reference = load_pipeline(quantized).programs()
    else:
        reference = torch_programs(model, model_tiling(model))
    images = [(name, im[:, ::-1].copy()) for name, im in parity_images()]
    parity = measure_parity(interpreter_programs(artifact), reference, model_tiling(model), images)
    assert parity >= bound
    if precision == "fp16":
        assert parity < 100  # fp16 storage really is emulated between ops
    if compute is None:  # the on-device self-test written beside it passes through the interpreter
        report = check_selftest(selftest_path(artifact).read_bytes(), manifest, interpreter_programs(artifact))
        assert [ok for *_, ok in report] == [True] * 4, report


def test_interpreter_refuses_unknown_ops():
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3))])
    def program(x):
        return mb.sigmoid(x=x)
    with pytest.raises(NotImplementedError, match="sigmoid"):
        MILInterpreter(program)({"x": np.zeros((1, 3), np.float32)})


def test_interpreter_conv_matches_torch():
    import torch
    from coremltools.converters.mil import Builder as mb
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(4, 3, 3, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 3, 9, 7))])
    def program(x):
        y = mb.conv(x=x, weight=w, bias=b, strides=[2, 2], pad_type="custom", pad=[1, 1, 1, 1])
        return mb.relu(x=y)
    x = rng.normal(size=(1, 3, 9, 7)).astype(np.float32)
    out = next(iter(MILInterpreter(program)({"x": x}).values()))
    ref = torch.relu(torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                                stride=2, padding=1)).numpy()
    assert np.abs(out - ref).max() < 1e-5


def test_export_all_summary(quantized, tmp_path, capsys):
    # export-all finds the quantized pipeline at its default place, relative to the working dir
    import os
    import shutil

    from quantize.program import default_pipeline_dir
    from targets.__main__ import main
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        shutil.copytree(quantized, default_pipeline_dir(DEFAULT_CHECKPOINT, "ptq", "out"))
        assert main(["export-all", "--only", "tflite:int8", "--eval", EVAL, "--out", "out"]) == 0
    finally:
        os.chdir(cwd)
    rows = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [(r["runtime"], r["precision"]) for r in rows] == [("tflite", "int8")]
    assert rows[0]["parity_db"] >= 45 and rows[0]["patch_ms"] > 0
    assert "| tflite | int8 |" in capsys.readouterr().out
    # the int8 artifact, run in LiteRT, stays within 0.3 dB of the float model on real images
    from mossnet.core.evaluation import evaluate
    from mossnet.core.pipeline import upscale_with_model
    model = load_model(DEFAULT_CHECKPOINT)[0]
    tiling = model_tiling(model)
    ref = evaluate({"float": lambda lr: upscale_with_model(model, lr, tiling)}, [EVAL], 4, progress=False)["float"]
    for name, value in rows[0]["y_psnr"].items():
        assert abs(value - ref[name]["psnr"]) < 0.3
