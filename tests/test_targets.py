"""ExecuTorch and LiteRT artifacts: parity in the real runtimes, manifests, refusals."""
import json
import shutil

import pytest

from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, load_model
from mossnet.core.pipeline import model_tiling, torch_programs
from targets import registry
from targets.manifest import ManifestError, load_manifest, manifest_path
from targets.parity import measure_parity, parity_images, recheck_images
from targets.selftest import check_selftest, selftest_path

from conftest import EVAL_DIR, ROOT, export

EVAL = EVAL_DIR


def precisions(runtime):
    return [p.name for p in registry.get(runtime).precisions]


# every ExecuTorch and LiteRT build the registry lists (Core ML: tests/test_coreml.py); QAT
# builds differ from PTQ ones only in the pipeline they convert, which takes minutes to train
CASES = [(rt.name, p.name) for rt, p in registry.builds() if rt.name != "coreml" and p.quantized_by != "qat"]


@pytest.mark.parametrize("runtime,precision", CASES)
def test_artifact_parity_in_the_real_runtime(runtime, precision, quantized, tmp_path):
    rt = registry.get(runtime)
    bound = rt.precision(precision).parity_bound_db
    artifact = export(runtime, precision, tmp_path, quantized if "int8" in precision else None)
    manifest = load_manifest(artifact, runtime, precisions(runtime), scale=4)
    assert manifest["parity"]["output_psnr_db"] >= bound
    assert set(manifest["parity"]["images"]) == {name for name, _ in parity_images()}  # named truthfully
    programs = rt.programs(artifact)
    if "int8" in precision:
        from quantize.program import load_pipeline
        reference = load_pipeline(quantized).programs()
    else:
        model = load_model(DEFAULT_CHECKPOINT)[0]
        reference = torch_programs(model, model_tiling(model))
    # recomputed here, on images the export did not pick
    assert measure_parity(programs, reference, model_tiling(load_model(DEFAULT_CHECKPOINT)[0]),
                          recheck_images()) >= bound
    # the on-device self-test written beside it passes when run through this runtime here
    report = check_selftest(selftest_path(artifact).read_bytes(), manifest, programs)
    assert [ok for *_, ok in report] == [True] * 4, report
    if "int8" in precision:
        check_flatness_record(manifest, programs)
    if precision == "int8":
        io = manifest["io_quantization"]
        # int8 pixels in and out; the modulation stays float from the context program to the
        # patch program's FiLM ops (quantize.recipe, float modulation)
        assert io["upscale_patch"]["args_0"]["dtype"] == io["upscale_patch"]["output_0"]["dtype"] == "int8"
        assert io["context"]["output_0"]["dtype"] == io["upscale_patch"]["args_1"]["dtype"] == "float32"
        # int8 patch program but for the two convs the recipe keeps float; float32 context
        assert manifest["artifact"]["bytes"] <= 170 * 1024


def check_flatness_record(manifest, programs):
    """Every int8 artifact's manifest records the flat-colour check and the sub-pixel grid run in
    its own runtime at export (issue 20); the figures are recomputed here and held to bounds."""
    from mossnet.core.flatness import flatness
    recorded = manifest["flat_check"]
    tiling = model_tiling(load_model(DEFAULT_CHECKPOINT)[0])
    assert flatness(*programs, tiling) == recorded
    # issue 20's targets: flats within 2 levels, no sub-pixel grid over 0.15 levels on the flats,
    # the gradient or the photo (the default recipe on the tail-balanced XS: 0 levels, 0.00, 0.06,
    # 0.01; before issue 20: 6 levels, a 3-level grid on flats, 1.2 on the gradient)
    assert recorded["flat_worst_levels"] <= INT8_BOUNDS["flat_worst_levels"]
    for key in ("flat_grid_levels", "gradient_grid_levels", "photo_grid_levels"):
        assert recorded[key] <= INT8_BOUNDS[key], (key, recorded[key])


INT8_BOUNDS = {"flat_worst_levels": 2, "flat_grid_levels": 0.15, "gradient_grid_levels": 0.15, "photo_grid_levels": 0.15}


def test_manifest_refusals(quantized, tmp_path):
    artifact = export("executorch", "int8-ptq", tmp_path / "a", quantized)
    with pytest.raises(ManifestError, match="not tflite"):
        load_manifest(artifact, "tflite", precisions("tflite"))
    with pytest.raises(ManifestError, match="x4 model, expected x2"):
        load_manifest(artifact, "executorch", precisions("executorch"), scale=2)
    m = json.loads(manifest_path(artifact).read_text())
    m["precision"] = "int4"
    manifest_path(artifact).write_text(json.dumps(m))
    with pytest.raises(ManifestError, match="unsupported precision"):
        load_manifest(artifact, "executorch", precisions("executorch"))
    copy = tmp_path / "b"
    shutil.copytree(tmp_path / "a", copy)
    m["precision"] = "int8-ptq"
    manifest_path(copy / artifact.name).write_text(json.dumps(m))
    with open(copy / artifact.name, "r+b") as f:
        f.seek(2000)
        f.write(b"\xff\xff")
    with pytest.raises(ManifestError, match="SHA-256"):
        load_manifest(copy / artifact.name, "executorch", precisions("executorch"))


def test_int8_export_needs_its_quantized_pipeline(tmp_path, capsys):
    from targets.cli import main
    assert main("executorch", ["export", "--precision", "int8-qat", "--quantized", str(tmp_path / "none"),
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "quantize.qat" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_upscale_command_runs_the_artifact(quantized, tmp_path, capsys):
    from targets.cli import main
    artifact = export("tflite", "int8", tmp_path, quantized)
    out = tmp_path / "out.png"
    assert main("tflite", ["upscale", str(ROOT / "examples" / "sample.png"), str(out), "--artifact", str(artifact)]) == 0
    from PIL import Image
    assert Image.open(out).size == (960, 640)
    assert main("tflite", ["upscale", str(ROOT / "examples" / "sample.png"), str(out), "--artifact",
                 str(tmp_path / "missing.tflite")]) == 2
    assert "no such artifact" in capsys.readouterr().err
    folder = tmp_path / "in"  # the batch form, shared by every runtime CLI (issue 16)
    folder.mkdir()
    Image.new("RGB", (24, 16), "red").save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not a png")
    assert main("tflite", ["upscale", str(folder), str(tmp_path / "out"), "--artifact", str(artifact),
                           "--format", "jpg"]) == 2
    err = capsys.readouterr().err
    assert "1 upscaled, 0 skipped, 1 failed" in err and "b.png" in err
    assert Image.open(tmp_path / "out" / "a.jpg").size == (96, 64)


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
    from targets.cli import main as cli
    main = lambda argv: cli("executorch", argv)  # noqa: E731
    q32 = tmp_path / "q32"
    ptq.quantize_ptq(ptq.PTQOptions(num_calib=8, eval=[str(ROOT / "examples")], out=str(q32), patch=32))
    assert json.loads((q32 / "quant.json").read_text())["tiling"]["patch"] == 32
    assert main(["export", "--precision", "int8-ptq", "--patch", "32", "--quantized", str(q32),
                 "--out", str(tmp_path / "et")]) == 0
    manifest = load_manifest(next((tmp_path / "et").glob("*.pte")), "executorch", precisions("executorch"))
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
