"""Core ML artifacts checked on Linux by executing the saved mlprogram (no mocks: the real
coremltools conversion, the real .mlpackage on disk, our interpreter of its MIL ops)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, load_model
from mossnet.core.pipeline import model_tiling, torch_programs
from mossnet.core.tiling import PROGRAMS
from targets import registry
from targets.coreml import checks, fp16_range, verify
from targets.coreml.mil_interpreter import MODES, MILInterpreter
from targets.coreml.runtime import claimed_functions, float_convs, interpreter_programs
from targets.manifest import ManifestError, load_manifest, manifest_path
from targets.parity import measure_parity, parity_images
from targets.runtime import ExportError
from targets.selftest import check_selftest, selftest_path

from conftest import EVAL_DIR, ROOT, export
from test_targets import INT8_BOUNDS

EVAL = EVAL_DIR


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_CHECKPOINT)[0]


@pytest.fixture(scope="module")
def build(quantized, tmp_path_factory):
    """``build(precision, compute=None)``: that Core ML build of the shipped weights, exported once
    per module through the one publish step (its structural checks included)."""
    made = {}

    def get(precision, compute=None):
        if (precision, compute) not in made:
            made[precision, compute] = export("coreml", precision, tmp_path_factory.mktemp(f"{precision}_{compute}"),
                                              quantized if precision == "w8a8" else None, compute=compute)
        return made[precision, compute]
    return get


# w8a8 is the int8 program: with fp32 arithmetic it must reproduce it like the other int8
# artifacts (>= 45 dB); the shipped builds compute in fp16 and are held, in every mode of the
# interpreter's fp16 range, to the bounds set from that range (targets/coreml/runtime.py).
@pytest.mark.parametrize("precision,compute", [(p.name, None) for p in registry.get("coreml").precisions]
                         + [("w8a8", "fp32")])
def test_coreml_parity(precision, compute, quantized, model, build):
    coreml = registry.get("coreml")
    bound = 45.0 if compute == "fp32" else coreml.precision(precision).parity_bound_db
    artifact = build(precision, compute)
    manifest = load_manifest(artifact, "coreml", [p.name for p in coreml.precisions], scale=4)
    assert manifest["parity"]["output_psnr_db"] >= bound
    modes = manifest["parity"]["modes"]
    assert list(modes) == list(MODES) and all(m["output_psnr_db"] >= bound for m in modes.values())
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
        assert modes["fp32"]["output_psnr_db"] > modes["fp16_per_op"]["output_psnr_db"]  # and the range is one
    if compute is None:  # the on-device self-test written beside it passes through the interpreter
        report = check_selftest(selftest_path(artifact).read_bytes(), manifest, interpreter_programs(artifact))
        assert [ok for *_, ok in report] == [True] * 4, report


def test_bounds_follow_from_the_fp16_range(build):
    """Each fp16-compute bound is no tighter than the rule (lowest mode, minus the spread, minus
    the margin) applied to the range measured at export."""
    coreml = registry.get("coreml")
    for precision in ("fp16", "w8", "w8a8"):
        modes = json.loads(manifest_path(build(precision)).read_text())["parity"]["modes"]
        assert coreml.precision(precision).parity_bound_db <= fp16_range.derived_bound(modes)


def test_each_precision_holds_what_it_claims(build):
    """The structural checks pass on every real build, and w8's weights are smaller than fp16's."""
    for precision in ("fp32", "fp16", "w8", "w8a8"):
        artifact = build(precision)
        manifest = json.loads(manifest_path(artifact).read_text())
        functions = checks.main_functions(artifact)
        checks.check_manifest_matches_spec(artifact, manifest)
        checks.check_compute_dtype(artifact, "fp32" if precision == "fp32" else "fp16", functions)
        if precision in ("w8", "w8a8"):
            checks.check_weights_int8(artifact, claimed_functions(registry.get("coreml").precision(precision),
                                                                  functions), float_convs(manifest))
    w8a8 = checks.main_functions(build("w8a8"))
    kept = float_convs(json.loads(manifest_path(build("w8a8")).read_text()))
    assert kept == 2  # the shipped XS's unbalanced up conv and the conv after it (quantize.balance)
    checks.check_activations_int8(build("w8a8"), {"upscale_patch": w8a8["upscale_patch"]}, kept)
    with pytest.raises(ExportError, match="float activation"):  # they are float, and only they
        checks.check_activations_int8(build("w8a8"), {"upscale_patch": w8a8["upscale_patch"]})
    with pytest.raises(ExportError, match="float weights"):
        checks.check_weights_int8(build("w8a8"), {"upscale_patch": w8a8["upscale_patch"]}, kept + 1)
    with pytest.raises(ExportError, match="activations are not int8"):  # the recipe's float context
        checks.check_activations_int8(build("w8a8"), {"context": w8a8["context"]})
    sizes = {p: json.loads(manifest_path(build(p)).read_text())["artifact"]["bytes"] for p in ("fp16", "w8")}
    assert sizes["w8"] < 0.75 * sizes["fp16"]
    with pytest.raises(ExportError, match="activations are not int8"):
        checks.check_activations_int8(build("w8"))


def test_w8a8_draws_no_sub_pixel_grid(build):
    """Issue 20's bounds on the Core ML int8 build, as the check run in the MIL interpreter at
    export records them (the same bounds as the ExecuTorch and LiteRT builds')."""
    recorded = json.loads(manifest_path(build("w8a8")).read_text())["flat_check"]
    assert recorded["pass"] and recorded["flat_worst_levels"] <= INT8_BOUNDS["flat_worst_levels"]
    for key in ("flat_grid_levels", "gradient_grid_levels", "photo_grid_levels"):
        assert recorded[key] <= INT8_BOUNDS[key], (key, recorded[key])


def assert_nothing_published(out_dir):
    assert not [p.name for p in Path(out_dir).iterdir()] if Path(out_dir).exists() else True


def test_planted_w8_build_that_is_not_quantized_is_refused(monkeypatch, tmp_path):
    """Planted defect: the weight quantizer does nothing (parity would pass at about 70 dB)."""
    import coremltools as ct
    monkeypatch.setattr(ct.optimize.coreml, "linear_quantize_weights", lambda mlmodel, config: mlmodel)
    with pytest.raises(ExportError, match="not weight-quantized"):
        export("coreml", "w8", tmp_path / "out")
    assert_nothing_published(tmp_path / "out")


def test_planted_w8a8_build_with_fp32_arithmetic_is_refused(build):
    """Planted defect: the fp32-arithmetic w8a8 program presented as the shipped fp16 build (its
    parity is better than the real one's, so parity cannot see it): the exporter's own check
    (``CoreML.check_artifact``) refuses it."""
    coreml = registry.get("coreml")
    artifact = build("w8a8", "fp32")
    manifest = json.loads(manifest_path(artifact).read_text())
    coreml.check_artifact(artifact, coreml.precision("w8a8"), manifest)  # as exported: claims fp32, holds
    manifest["toolkit"]["compute_precision"] = "fp16"
    with pytest.raises(ExportError, match="claims fp16 compute but conv .* makes fp32"):
        coreml.check_artifact(artifact, coreml.precision("w8a8"), manifest)


def test_planted_swapped_input_names_are_refused(monkeypatch, tmp_path):
    """Planted defect: the exporter (and the runner beside it) name upscale_patch's inputs in the
    other order; parity cannot see it (the runner feeds by the same swapped names), the manifest
    (names from mossnet.core.tiling) against the saved spec does."""
    from targets.coreml import runtime as coreml_runtime
    swapped = {**PROGRAMS, "upscale_patch": (PROGRAMS["upscale_patch"][0][::-1], PROGRAMS["upscale_patch"][1])}
    monkeypatch.setattr(coreml_runtime, "PROGRAMS", swapped)
    with pytest.raises(ManifestError, match=r"upscale_patch input 0 \(patch\) is named 'modulation' in the program"):
        export("coreml", "fp16", tmp_path / "out")
    assert_nothing_published(tmp_path / "out")


@pytest.mark.parametrize("runtime", [rt.name for rt in registry.exporters()])
def test_every_exporter_refuses_an_artifact_below_its_bound(runtime, monkeypatch, tmp_path, capsys):
    """Planted defect: a bound no artifact can meet (above PSNR_CAP) stands for an artifact
    below its bound; the one publish step refuses it for every runtime with one line, exit 2,
    and leaves neither artifact nor manifest."""
    from dataclasses import replace

    from targets.cli import main
    from targets.parity import PSNR_CAP
    rt = registry.get(runtime)
    monkeypatch.setattr(type(rt), "precisions", tuple(replace(p, parity_bound_db=PSNR_CAP + 1) if p.name == "fp32"
                                                      else p for p in rt.precisions))
    assert main(runtime, ["export", "--precision", "fp32", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and f"below its bound of {PSNR_CAP + 1}" in err[-1]
    assert not any(line.startswith("error") for line in err[:-1])
    assert_nothing_published(tmp_path / "out")


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


# -- python -m targets.coreml verify ------------------------------------------------------------
# Core ML's predict exists only on macOS. These tests run everything up to that call for real
# (arguments, artifact and manifest checks, references, report, folding) and inject a stand-in
# at the one seam, ``verify.main(predict=...)``: THE CORE ML PREDICT ITSELF IS NOT RUN HERE.
STAND_IN = "test stand-in: MIL interpreter modes (Core ML's predict was NOT run)"
UNIT_MODES = dict(zip(verify.COMPUTE_UNITS, ("fp32", "fp16_per_op", "fp16_quantize_division")))


def stand_in_predict(artifact, unit):
    """Not Core ML: the interpreter, one of its modes per compute unit."""
    return interpreter_programs(artifact, UNIT_MODES[unit])


def copied(artifact, tmp_path):
    """A copy of a build and its manifest (verify --fold rewrites the manifest)."""
    import shutil
    dst = tmp_path / artifact.name
    shutil.copytree(artifact, dst)
    shutil.copy(manifest_path(artifact), manifest_path(dst))
    return dst


@pytest.mark.skipif(sys.platform == "darwin", reason="the refusal is what Linux gives")
def test_verify_refuses_off_macos_with_one_line(build):
    result = subprocess.run([sys.executable, "-m", "targets.coreml", "verify", str(build("fp16"))],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: python -m targets.coreml verify needs macOS")


def test_verify_report_and_fold_up_to_predict(build, tmp_path, capsys):
    """Stand-in predict (NOT Core ML): the report has every compute unit and every parity image
    the manifest names, with the very figures the export measured in those modes, and folds
    into the manifest, which still loads."""
    artifact = copied(build("fp16"), tmp_path)
    report_path = tmp_path / "report.json"
    rc = verify.main([str(artifact), "--json", str(report_path), "--fold"], predict=stand_in_predict,
                     predict_name=STAND_IN, system="darwin")
    assert rc == 0, capsys.readouterr()
    report = json.loads(report_path.read_text())
    manifest = load_manifest(artifact, "coreml", [p.name for p in registry.get("coreml").precisions])
    assert report["predict"] == STAND_IN and report["pass"] is True
    assert list(report["compute_units"]) == list(verify.COMPUTE_UNITS)
    for unit, result in report["compute_units"].items():
        assert result["images"] == manifest["parity"]["modes"][UNIT_MODES[unit]]["images"]
        assert result["pass"] is (result["output_psnr_db"] >= report["bound_db"])
    assert manifest["device_parity"]["compute_units"] == report["compute_units"]
    assert manifest["device_parity"]["predict"] == STAND_IN
    assert "CPU_AND_GPU" in capsys.readouterr().out


def test_verify_fails_a_compute_unit_below_the_bound(build, tmp_path, capsys):
    """Stand-in predict (NOT Core ML) whose GPU run is off by 2 %: that unit fails, exit 1."""
    def predict(artifact, unit):
        context, patch = stand_in_predict(artifact, unit)
        return (context, (lambda p, m: patch(p, m) * 0.98) if unit == "CPU_AND_GPU" else patch)
    report_path = tmp_path / "report.json"
    assert verify.main([str(build("fp16")), "--json", str(report_path)], predict=predict, predict_name=STAND_IN,
                       system="darwin") == 1
    report = json.loads(report_path.read_text())
    assert [u for u, r in report["compute_units"].items() if not r["pass"]] == ["CPU_AND_GPU"]
    assert report["pass"] is False and "FAIL" in capsys.readouterr().out


def test_verify_refuses_bad_input_with_one_line(build, tmp_path, capsys):
    """No artifact, a manifest naming a parity image this machine cannot rebuild, and a report
    of another artifact: each one line and exit 2 (or ExportError), nothing written."""
    run = lambda *argv: verify.main([*argv, "--json", str(tmp_path / "r.json")], predict=stand_in_predict,
                                    predict_name=STAND_IN, system="darwin")
    assert run(str(tmp_path / "missing.coreml")) == 2
    assert "no such artifact" in capsys.readouterr().err
    artifact = copied(build("fp16"), tmp_path)
    manifest = json.loads(manifest_path(artifact).read_text())
    manifest["parity"]["images"] = {"elsewhere.jpg [0:96, 0:128]": 50.0}
    manifest_path(artifact).write_text(json.dumps(manifest))
    assert run(str(artifact)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "elsewhere.jpg" in err[0]
    assert not (tmp_path / "r.json").exists()
    report = verify.verify(build("w8"), predict=stand_in_predict, predict_name=STAND_IN, units=("CPU_ONLY",))
    with pytest.raises(ExportError, match="not a device-parity report of this artifact"):
        verify.fold(build("fp16"), report)
