"""The host side of ``python -m targets arm-parity`` (targets/arm/parity.py), without emulation:
the tile inputs it sends and the stitching of what comes back reproduce ``upscale_tiled``
exactly (through guest.py's own job runner, with x86 programs), and a planted failure is
counted, tabled and makes the command exit non-zero."""
import json

import numpy as np
import pytest

from mossnet.core.errors import UserError
from mossnet.core.pipeline import model_tiling, torch_programs
from mossnet.core.tiling import TilingConfig, plan_tiles, upscale_tiled
from targets.arm import guest
from targets.arm import parity as arm
from targets.registry import build

from conftest import random_model


@pytest.fixture(scope="module")
def programs_and_tiling():
    model = random_model("xs")
    tiling = model_tiling(model, patch=16)
    return torch_programs(model, tiling), tiling


def images():
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(21, 45), (37, 50), (5, 7)]]


def guest_run(tmp_path, monkeypatch, programs, inputs) -> dict:
    """The calls through guest.py's run_job (its npz layouts), with x86 programs."""
    monkeypatch.setitem(guest.RUNTIMES, "x86", lambda path, threads: programs)
    np.savez(tmp_path / "in.npz", **inputs)
    guest.run_job({"runtime": "x86", "artifact": "-", "outputs": str(tmp_path / "out.npz")},
                  str(tmp_path / "in.npz"), None)
    with np.load(tmp_path / "out.npz") as z:
        return {k: z[k] for k in z.files}


def test_every_tile_sent_and_stitched_back_is_upscale_tiled(tmp_path, monkeypatch, programs_and_tiling):
    programs, t = programs_and_tiling
    for image in images():
        tiles = list(range(len(plan_tiles(*image.shape[:2], t))))
        inputs = arm.tile_inputs(image, t, tiles)
        assert inputs["patches"].shape == (len(tiles), 1, 3, t.input_size, t.input_size)
        outputs = guest_run(tmp_path, monkeypatch, programs, inputs)
        stitched = arm.stitch(image, t, tiles, outputs, inputs)
        expected = upscale_tiled(image, *programs, t, as_float=True)
        assert stitched.dtype == np.float32 and np.array_equal(stitched, expected)
        assert np.array_equal(arm.stitch(image, t, tiles, arm.run_calls(programs, inputs)), expected)


def test_a_subset_of_tiles_fills_only_what_they_own(tmp_path, monkeypatch, programs_and_tiling):
    programs, t = programs_and_tiling
    image = images()[1]
    plan = plan_tiles(*image.shape[:2], t)
    tiles = [len(plan) - 1]
    inputs = arm.tile_inputs(image, t, tiles)
    stitched = arm.stitch(image, t, tiles, guest_run(tmp_path, monkeypatch, programs, inputs), inputs)
    expected = upscale_tiled(image, *programs, t, as_float=True)
    last, s = plan[-1], t.scale
    owned = np.zeros(stitched.shape[:2], dtype=bool)
    owned[last.own_y0 * s:last.own_y1 * s, last.own_x0 * s:last.own_x1 * s] = True
    assert np.array_equal(stitched[owned], expected[owned]) and np.isnan(stitched[~owned]).all()
    result = arm.compare(stitched, expected, expected)
    assert result["values"] == owned.sum() * 3 and result["identical"] == result["values"]


def test_an_input_not_cut_as_the_pipeline_cuts_it_is_caught(programs_and_tiling):
    programs, t = programs_and_tiling
    image = images()[0]
    inputs = arm.tile_inputs(image, t, [0])
    outputs = arm.run_calls(programs, inputs)
    inputs["patches"] = inputs["patches"][:, :, :, ::-1].copy()
    with pytest.raises(AssertionError, match="tile 0"):
        arm.stitch(image, t, [0], outputs, inputs)


def test_which_tiles_each_precision_runs():
    t = TilingConfig(scale=4, patch=64, halo=8, align=2, thumb=64)
    fp32, int8 = build("executorch:fp32")[1], build("tflite:int8")[1]
    cases = [arm.Case("full", np.zeros((96, 128, 3), np.uint8), "all"),
             arm.Case("corner", np.zeros((65, 129, 3), np.uint8), "corner")]
    assert cases[1].tiles(t, int8) == list(range(6)) and cases[1].tiles(t, fp32) == [5]
    assert cases[1].tiles(t, fp32, all_tiles=True) == list(range(6))
    assert cases[0].tiles(t, fp32) == list(range(4))


def test_every_default_image_keeps_every_tile_for_int8_and_one_parity_image_for_fp32():
    t = TilingConfig(scale=4, patch=64, halo=8, align=2, thumb=64)
    cases = arm.default_cases()
    fp32 = build("tflite:fp32")[1]
    assert cases[0].tiles(t, fp32) == list(range(len(cases[0].plan(t))))  # a parity image, every tile
    assert len(cases[3].plan(t)) == 6  # the odd size has last-row and last-column edge tiles


def planted_report(tmp_path, programs_and_tiling, bad: float) -> dict:
    """A two-artifact report where the second artifact's emulated output is off by ``bad``."""
    programs, t = programs_and_tiling
    image = images()[2]
    tiles = list(range(len(plan_tiles(*image.shape[:2], t))))
    inputs = arm.tile_inputs(image, t, tiles)
    reference = upscale_tiled(image, *programs, t, as_float=True)
    x86 = arm.stitch(image, t, tiles, arm.run_calls(programs, inputs))
    arts = [{"key": "executorch:fp32", "runtime": "executorch", "precision": "fp32", "reference": "float PyTorch",
             "bound_db": 60.0},
            {"key": "tflite:int8", "runtime": "tflite", "precision": "int8", "reference": "int8 PyTorch program (ptq)",
             "bound_db": 45.0}]
    guest_out = arm.run_calls(programs, inputs)
    guest_out["hr"] = guest_out["hr"] + np.float32(bad)
    off = arm.stitch(image, t, tiles, guest_out)
    cpu = {"cpu": "cortex-a53", "kernel_families": arm.kernel_families(A53), "results": [
        arm.check(arts[0], {"img": arm.compare(x86, x86, reference)}, None),
        arm.check(arts[1], {"img": arm.compare(off, x86, reference)}, None)]}
    crashed = {"cpu": "max", "kernel_families": {}, "results": [
        arm.check(arts[0], None, "guest exited -11"),
        arm.check(arts[1], {"img": arm.compare(x86, x86, reference)}, None)]}
    return {"artifacts": arts, "x86": [arm.check(a, {"img": arm.compare(x86, x86, reference)}, None) for a in arts],
            "cpus": [cpu, crashed]}


A53 = {"hwcap": ["fp", "asimd"], "hwcap2": [], "torch_cpu_capability": "DEFAULT",
       "cpuinfo": [{"library": "libexecutorch_threadpool.so", "isa": {"flags": ["aes", "crc32"], "svelen_bytes": 0}}],
       "litert_xnnpack_hardware_config": {"arch_flags": "0x13c", "uarch": ["cortex_a53", "unknown", "unknown"],
                                          "families": ["arm_vfpv3", "arm_neon", "arm_neon_fma", "arm_neon_v8",
                                                       "arm_neon_fp16"]}}


def test_a_planted_failure_is_counted_and_tabled(tmp_path, programs_and_tiling):
    report = planted_report(tmp_path, programs_and_tiling, bad=0.02)  # 0.02 off: about 34 dB
    by = {(c["cpu"], r["artifact"]): r for c in report["cpus"] for r in c["results"]}
    assert by["cortex-a53", "executorch:fp32"]["passed"] and by["cortex-a53", "executorch:fp32"]["identical_share"] == 1
    bad = by["cortex-a53", "tflite:int8"]
    assert not bad["passed"] and bad["min_psnr_db"] < 45 and bad["identical_share"] < 0.01
    assert not by["max", "executorch:fp32"]["passed"] and by["max", "tflite:int8"]["passed"]
    assert arm.tally(report) == (2, 2) and arm.closing_line(2, 2) == "2 passed, 2 failed"
    table = arm.markdown(report)
    assert table.count("FAIL") == 2 and "guest exited -11" in table
    assert "| cortex-a53 | NEON, fp16 conversion |" in table
    # a small, in-bound difference passes
    assert arm.tally(planted_report(tmp_path, programs_and_tiling, bad=1e-5)) == (3, 1)


def test_kernel_families_and_agreement():
    k = arm.kernel_families(A53)
    assert k["litert_xnnpack_uarch"] == "cortex_a53" and k["executorch_cpuinfo_disagrees_on"] == []
    dot = json.loads(json.dumps(A53))
    dot["litert_xnnpack_hardware_config"]["families"] += ["arm_neon_dot"]
    assert arm.kernel_families(dot)["executorch_cpuinfo_disagrees_on"] == ["dot"]
    assert arm.families_cell(arm.kernel_families(dot)) == "NEON, fp16 conversion, dot"


def test_the_command_exits_nonzero_and_closes_with_the_counts(tmp_path, monkeypatch, capsys, programs_and_tiling):
    report = planted_report(tmp_path, programs_and_tiling, bad=0.02)
    monkeypatch.setattr(arm, "measure", lambda args: report)
    assert arm.main(["--json", str(tmp_path / "r.json")]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "2 passed, 2 failed" and lines[0].startswith("| -cpu |")
    assert json.loads((tmp_path / "r.json").read_text())["cpus"][0]["cpu"] == "cortex-a53"

    def no_environment(args):
        raise UserError("the arm64 environment could not be built: env.sh: error: no network")
    monkeypatch.setattr(arm, "measure", no_environment)
    assert arm.main(["--json", str(tmp_path / "r2.json")]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1] == "0 passed, 0 failed"
    assert captured.err.strip().splitlines()[-1].startswith("error: the arm64 environment could not be built")
    assert not (tmp_path / "r2.json").exists()
