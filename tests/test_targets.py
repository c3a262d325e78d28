"""ExecuTorch and LiteRT artifacts: parity in the real runtimes, manifests, refusals."""
import json
import shutil

import pytest

from mossnet.checkpoint import DEFAULT_CHECKPOINT, load_model
from mossnet.pipeline import model_tiling, torch_programs
from targets.common import measure_parity, recheck_images
from targets.manifest import ManifestError, load_manifest, manifest_path

from conftest import EVAL_DIR, ROOT

EVAL = EVAL_DIR


def export(runtime, precision, out_dir, quantized=None):
    module = __import__(f"targets.{runtime}.exporter", fromlist=["export"])
    return module.export(str(DEFAULT_CHECKPOINT), precision, out_dir, quantized and str(quantized))


CASES = [("executorch", "fp32", 60), ("executorch", "int8-ptq", 45), ("tflite", "fp32", 60), ("tflite", "int8", 45)]


@pytest.mark.parametrize("runtime,precision,bound", CASES)
def test_artifact_parity_in_the_real_runtime(runtime, precision, bound, quantized, tmp_path):
    artifact = export(runtime, precision, tmp_path, quantized if "int8" in precision else None)
    manifest = load_manifest(artifact, runtime, scale=4)
    assert manifest["parity"]["output_psnr_db"] >= bound
    runner = __import__(f"targets.{runtime}.runner", fromlist=["load"])
    programs, _ = runner.load(artifact)
    if "int8" in precision:
        from quantize.program import load_pipeline
        reference = load_pipeline(quantized).programs()
    else:
        model = load_model(DEFAULT_CHECKPOINT)[0]
        reference = torch_programs(model, model_tiling(model))
    # recomputed here, on images the export did not pick
    assert measure_parity(programs, reference, model_tiling(load_model(DEFAULT_CHECKPOINT)[0]),
                          recheck_images()) >= bound
    if precision == "int8":
        io = manifest["io_quantization"]
        # the context's int8 output feeds the patch program with no requantization
        assert io["context"]["output_0"] == io["upscale_patch"]["args_1"]
        assert manifest["artifact"]["bytes"] <= 120 * 1024


def test_manifest_refusals(quantized, tmp_path):
    artifact = export("executorch", "int8-ptq", tmp_path / "a", quantized)
    with pytest.raises(ManifestError, match="not tflite"):
        load_manifest(artifact, "tflite")
    with pytest.raises(ManifestError, match="x4 model, expected x2"):
        load_manifest(artifact, "executorch", scale=2)
    m = json.loads(manifest_path(artifact).read_text())
    m["precision"] = "int4"
    manifest_path(artifact).write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="unsupported precision"):
        load_manifest(artifact, "executorch")
    copy = tmp_path / "b"
    shutil.copytree(tmp_path / "a", copy)
    m["precision"] = "int8-ptq"
    manifest_path(copy / artifact.name).write_text(json.dumps(m))
    with open(copy / artifact.name, "r+b") as f:
        f.seek(2000)
        f.write(b"\xff\xff")
    with pytest.raises(ManifestError, match="SHA-256"):
        load_manifest(copy / artifact.name, "executorch")


def test_int8_export_needs_its_quantized_pipeline(tmp_path, capsys):
    from targets.executorch.__main__ import main
    assert main(["export", "--precision", "int8-qat", "--quantized", str(tmp_path / "none"),
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "quantize.qat" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_upscale_command_runs_the_artifact(quantized, tmp_path, capsys):
    from targets.tflite.__main__ import main
    artifact = export("tflite", "int8", tmp_path, quantized)
    out = tmp_path / "out.png"
    assert main(["upscale", str(ROOT / "examples" / "sample.png"), str(out), "--artifact", str(artifact)]) == 0
    from PIL import Image
    assert Image.open(out).size == (960, 640)
    assert main(["upscale", str(ROOT / "examples" / "sample.png"), str(out), "--artifact",
                 str(tmp_path / "missing.tflite")]) == 2
    assert "no such artifact" in capsys.readouterr().err


@pytest.mark.parametrize("runtime,precision", [("executorch", "int8-ptq"), ("tflite", "int8")])
def test_exports_are_deterministic(runtime, precision, quantized, tmp_path):
    """Same checkpoint and pipeline, same bytes. (Core ML is not: coremltools writes random
    UUIDs into each .mlpackage's Manifest.json; its manifest hash still pins the exact files.)"""
    first = export(runtime, precision, tmp_path / "1", quantized)
    second = export(runtime, precision, tmp_path / "2", quantized)
    assert first.read_bytes() == second.read_bytes()


def test_patch_option_reaches_the_programs(quantized, tmp_path, capsys):
    """--patch fixes the exported input shape and the manifest's tiling; an int8 pipeline
    quantized at another patch is refused, not silently re-tiled; a bad patch is one line."""
    from quantize import ptq
    from targets.executorch.__main__ import main
    q32 = tmp_path / "q32"
    assert ptq.main([str(DEFAULT_CHECKPOINT), "--patch", "32", "--num-calib", "8", "--eval",
                     str(ROOT / "examples"), "--out", str(q32)]) == 0
    assert json.loads((q32 / "quant.json").read_text())["tiling"]["patch"] == 32
    assert main(["export", "--precision", "int8-ptq", "--patch", "32", "--quantized", str(q32),
                 "--out", str(tmp_path / "et")]) == 0
    manifest = load_manifest(next((tmp_path / "et").glob("*.pte")), "executorch")
    halo = manifest["tiling"]["halo"]
    assert manifest["tiling"]["patch"] == 32 and manifest["parity"]["output_psnr_db"] >= 45
    assert manifest["programs"]["upscale_patch"]["inputs"][0]["shape"][-2:] == [32 + 2 * halo] * 2
    capsys.readouterr()
    assert main(["export", "--precision", "int8-ptq", "--patch", "32", "--quantized", str(quantized),
                 "--out", str(tmp_path / "mismatch")]) == 2
    err = capsys.readouterr().err
    assert "quantized at patch 64, not 32" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "mismatch").exists() or not list((tmp_path / "mismatch").iterdir())
    assert ptq.main([str(DEFAULT_CHECKPOINT), "--patch", "33", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "--patch" in err and "33" in err and len(err.strip().splitlines()) == 1
