"""python -m mossnet.tools.bench: the parts that decide its numbers (memory child, streamed output,
thread policy, targets, writers and the docs renderer) and a --quick run on tiny sizes. No timing
assertions."""
import json

import numpy as np
import pytest
from PIL import Image

from mossnet.core.pipeline import model_tiling, torch_programs
from mossnet.core.tiling import upscale_tiled
from mossnet.tools.benchmark import report
from mossnet.tools.benchmark.rss import ChildError, run_child
from mossnet.tools.benchmark.stream import PPMStripWriter
from mossnet.tools.benchmark.verdict import evaluate_targets

from conftest import random_model


def test_memory_child_sees_a_large_allocation():
    small, large = run_child(["--alloc-mb", "16"]), run_child(["--alloc-mb", "256"])
    grew = (large["peak_job_kib"] - large["rss_baseline_kib"]) / 1024
    assert 250 <= grew <= 300, grew
    assert large["peak_job_kib"] - small["peak_job_kib"] > 200 * 1024
    assert small["rss_start_kib"] < 100 * 1024  # the child starts small: no torch import for this


def test_memory_child_failure_is_reported():
    with pytest.raises(ChildError, match="exit"):
        run_child(["--method", "no-such-runtime:fp32"])


def test_streamed_output_equals_in_memory_output(tmp_path, rng):
    model = random_model("xs")
    tiling = model_tiling(model, patch=16)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # several tile rows, ragged edges
    programs = torch_programs(model, tiling)
    expected = upscale_tiled(image, *programs, tiling)
    with PPMStripWriter(tmp_path / "out.ppm", *expected.shape[:2]) as out:
        upscale_tiled(image, *programs, tiling, out=out)
    with Image.open(tmp_path / "out.ppm") as im:
        np.testing.assert_array_equal(np.asarray(im), expected)


def test_stream_writer_refuses_incomplete_or_unordered_output(tmp_path):
    w = PPMStripWriter(tmp_path / "a.ppm", 8, 4)
    w[4:8, 0:4] = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="out of order"):
        w[0:4, 0:4] = np.zeros((4, 4, 3), np.uint8)
    w = PPMStripWriter(tmp_path / "b.ppm", 8, 4)
    w[0:4, 0:4] = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="only 4 of 8 rows"):
        w.close()


def fake_results(job_s=1.5, peak_mb=250.0, growth=0.02, nbytes=101_312):
    mem = {s: {"peak_mb": peak_mb, "rss_imported_kib": 200_000, "rss_baseline_kib": 210_000, "seconds": job_s}
           for s in ("1080p", "4K", "8K")}
    return {
        "command": "python -m mossnet.tools.bench", "date": "2026-11-30 10:00 UTC", "wall_s": 1.0,
        "notes": ["a note"], "stages_s": {"build": 1.0},
        "machine": {"cpu": "Test CPU", "cpus": 2, "memory_gib": 1.0, "system": "Linux", "versions": {}},
        "load": {"load_average_start": [2.5, 2.0, 1.0], "load_average_end": [3.0, 2.0, 1.0],
                 "load_1min_sampled": {"min": 2.0, "median": 2.6, "max": 3.1}, "other_processes_cpus": 1.2},
        "checkpoint": {"path": "c.pt", "sha256": "ab" * 32},
        "settings": {"sizes": {"1080p": (480, 270), "4K": (960, 540), "8K": (1920, 1080)}, "headline": "4K",
                     "runs": 5, "calls": 30, "sets": ["Set5"]},
        "methods": {
            "pytorch:fp32": {"label": "float", "tiled": True, "model": "MossNet", "gflops_256": 3.26},
            "executorch:int8-ptq": {"label": "ET int8", "tiled": True, "model": "MossNet", "bytes": nbytes,
                                    "gflops_256": 3.26, "parameters": 64484}},
        "latency": {"pytorch:fp32": {"median_s": 2.4, "cpu_median_s": 2.3, "threads": 1},
                    "executorch:int8-ptq": {"median_s": job_s, "cpu_median_s": job_s, "ms_per_tile": 3.0,
                                            "threads": 1}},
        "memory": {"executorch:int8-ptq": {"stream": mem, "growth": {"stream": growth}}},
        "threads": {"executorch": {"chosen": 1, "ms": {"1": 2.0, "2": 3.0}, "measured_with": "executorch:int8-ptq",
                                   "unit": "ms per upscale_patch call", "applies_to": ["executorch:int8-ptq"]}},
        "quality": {"pytorch:fp32": {"Set5": {"psnr": 29.8, "ssim": 0.84}},
                    "executorch:int8-ptq": {"Set5": {"psnr": 29.7, "ssim": 0.84, "psnr_vs_reference": 50.0}}},
        "patch_sweep": {"executorch:int8-ptq": [{"patch": 32, "halo": 8, "input": 48, "tiles": 510, "overhead": 2.2,
                                                 "call_ms": 1.0, "us_per_output_px": 0.06, "job_s": 0.9}]},
    }


def test_targets_say_what_was_missed_and_by_how_much():
    rows = {r["target"].split(",")[0]: r for r in evaluate_targets(fake_results(job_s=1.5, growth=0.25))}
    job = rows["4K job"]
    assert job["met"] is False and job["margin"] == "+50 %"
    assert rows["speed-up vs float eager PyTorch"]["met"] is False  # 2.4 / 1.5 = 1.6x
    assert rows["peak RSS"]["met"] is True
    assert rows["peak RSS growth 1080p -> 8K output"]["met"] is False
    assert rows["int8 artifact size"]["met"] is True
    ok = evaluate_targets(fake_results(job_s=0.5, growth=0.05, nbytes=130_000))
    assert [r["met"] for r in ok] == [True, True, True, True, False]


def test_writers_produce_json_and_markdown(tmp_path):
    results = fake_results()
    results["targets"] = evaluate_targets(results)
    report.write(results, tmp_path / "out", [tmp_path / "results" / "bench.json", tmp_path / "out" / "bench.json"])
    for path in (tmp_path / "results" / "bench.json", tmp_path / "out" / "bench.json"):
        assert json.loads(path.read_text())["methods"]["executorch:int8-ptq"]["bytes"] == 101_312
    md = (tmp_path / "out" / "bench.md").read_text()
    assert "| 4K job, median wall time | <= 1.0 s | 1.500 s" in md and "**no**" in md
    assert "| ET int8 | 101.3 |" in md
    assert "29.70 / 0.8400" in md and "- a note" in md
    assert "load average (1 min) 2.50 at start, 3.00 at end" in md  # the load it ran under
    assert not list(tmp_path.rglob(".*"))  # atomic writes leave no temporary files


def test_render_docs_rewrites_only_the_marked_blocks():
    results = fake_results()
    doc = ("# Bench\nprose stays\n<!-- results:bench:summary -->\nold table\n<!-- /results -->\nmiddle\n"
           "<!-- results:bench:threads -->\n<!-- /results -->\nend\n")
    out = report.render_docs(results, doc)
    assert out.startswith("# Bench\nprose stays\n<!-- results:bench:summary -->\n| build |")
    assert "old table" not in out and "middle\n" in out and out.endswith("<!-- /results -->\nend\n")
    assert "| executorch | ET int8 | ms per upscale_patch call | 2.00 | 3.00 | 1 |" in out
    assert report.render_docs(results, out) == out  # idempotent
    with pytest.raises(KeyError, match="nope"):
        report.render_docs(results, "<!-- results:bench:nope -->\n<!-- /results -->")
    block = report.readme_block(results)
    assert block.startswith("| build |") and "| ET int8 | 101 | 1.500 |" in block and "load average 2.50" in block
    assert not block.endswith("\n")
    assert report.readme_block(results, "bench:targets").startswith("| target |")


def test_thread_policy_picks_the_fastest_count_per_runtime(monkeypatch, tmp_path):
    """One policy for every runtime: a count per runtime (ESPCN goes with PyTorch; Core ML off
    macOS and PIL have none), measured with the runtime's default build when it is selected,
    and recorded for this machine as the command lines' default (``targets.threads``)."""
    from mossnet.tools.benchmark.methods import method
    from mossnet.tools.benchmark.stages import Settings, threads
    from targets.threads import default_threads
    monkeypatch.setenv("MOSSNET_CACHE", str(tmp_path))
    keys = ["bicubic-pil", "espcn", "pytorch:fp32", "executorch:fp32", "executorch:int8-ptq", "tflite:int8",
            "coreml:fp16"]
    ms = {k: method(k) for k in keys}
    fake = {("pytorch:fp32", 1): 9.0, ("pytorch:fp32", 2): 14.0, ("executorch:int8-ptq", 1): 2.1,
            ("executorch:int8-ptq", 2): 2.6, ("tflite:int8", 1): 6.0, ("tflite:int8", 2): 4.0}
    monkeypatch.setattr(threads, "measure", lambda s, m, n: fake[(m.key, n)])
    s = Settings(ckpt="c.pt", root="artifacts", sizes={}, headline="4K", runs=1, calls=1, cpus=2)
    out, notes = threads.run(s, ms, log=lambda msg: None)
    assert {rt: t["chosen"] for rt, t in out.items()} == {"pytorch": 1, "executorch": 1, "tflite": 2}
    assert out["pytorch"]["applies_to"] == ["espcn", "pytorch:fp32"] and not notes
    assert out["executorch"]["measured_with"] == "executorch:int8-ptq"
    assert default_threads("tflite")[0] == 2 and "measured" in default_threads("tflite")[1]
    forced, _ = threads.run(Settings(**{**s.__dict__, "threads": 3}), ms, log=lambda msg: None)
    assert {t["chosen"] for t in forced.values()} == {3}


def test_quick_run_writes_every_output(tmp_path):
    from mossnet.tools import bench
    out = tmp_path / "bench"
    assert bench.main(["--quick", "--methods", "bicubic-pil", "pytorch:fp32", "--threads", "1", "--skip-quality",
                       "--skip-memory", "--patches", "32", "64", "--out", str(out)]) == 0
    results = json.loads((out / "bench.json").read_text())
    lat = results["latency"]["pytorch:fp32"]
    assert lat["tiles"] == 6 and lat["median_s"] > 0 and lat["threads"] == 1  # 160x90 LR in 64-px tiles: 3 x 2
    assert [r["patch"] for r in results["patch_sweep"]["pytorch:fp32"]] == [32, 64]
    assert results["methods"]["pytorch:fp32"]["parameters"] == 64_484
    assert results["load"]["load_average_end"] and results["settings"]["quick"] is True
    for name in ("latency.png", "memory.png", "psnr_vs_gflops.png"):
        with Image.open(out / name) as im:
            assert im.format == "PNG" and im.size[0] > 200


def test_help_and_bad_flags(capsys):
    from mossnet.tools import bench
    with pytest.raises(SystemExit) as exc:
        bench.main(["--help"])
    assert exc.value.code == 0 and "--skip-quality" in capsys.readouterr().out
    for bad in (["--threads", "0"], ["--methods", "tflite:fp16"], ["--methods", "executorch-int8-ptq"]):
        with pytest.raises(SystemExit) as exc:
            bench.main(bad)
        assert exc.value.code == 2


def test_thumbnail_makes_no_float_copy_of_the_image(rng):
    """The tiled job's memory must not grow with the image: the thumbnail pools the uint8 image
    one row at a time, bit-identical to pooling a float64 copy of it. (Converting a whole bin
    of rows at once, as it did before, peaks at 2.3 MB here.)"""
    import tracemalloc

    from mossnet.core.tiling import TilingConfig, adaptive_pool_axis, make_thumbnail
    t = TilingConfig(scale=4, patch=64, halo=8, align=2, thumb=64)
    image = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)  # a float64 copy would be 50 MB
    tracemalloc.start()
    make_thumbnail(image, t)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.5e6, peak
    for h, w in ((37, 53), (300, 200), (64, 64), (65, 129), (2, 700), (1000, 3)):
        small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ref = adaptive_pool_axis(adaptive_pool_axis(small.astype(np.float64) / 255.0, 64, axis=0), 64, axis=1)
        np.testing.assert_array_equal(make_thumbnail(small, t)[0], ref.transpose(2, 0, 1).astype(np.float32))


def test_peak_wrapper_reports_the_commands_own_peak_and_exit(tmp_path):
    """The end-to-end benchmark's memory figure: VmHWM of the process that ran the command."""
    import subprocess
    import sys
    report = tmp_path / "peak.json"
    code = subprocess.run([sys.executable, "-m", "mossnet.tools.benchmark.peak", str(report), "mossnet.upscale",
                           "--help"], capture_output=True, text=True).returncode
    small = json.loads(report.read_text())
    assert code == 0 and small["exit"] == 0 and 5_000 < small["peak_kib"] < 1_000_000
    code = subprocess.run([sys.executable, "-m", "mossnet.tools.benchmark.peak", str(report), "mossnet.upscale",
                           "missing.png", str(tmp_path / "o.png")], capture_output=True, text=True).returncode
    assert code == 2 and json.loads(report.read_text())["exit"] == 2


def test_end_to_end_quick_run_times_the_float_command(capsys):
    """``python -m mossnet.tools.e2e --quick``: the float command line as a whole process, its
    import time, and a verdict table; no timing assertions."""
    from mossnet.tools import e2e
    assert e2e.main(["--quick", "--commands", "float"]) == 0
    out = capsys.readouterr().out
    assert "| `mossnet.upscale` float |" in out and "| target | required | measured | met |" in out


def test_end_to_end_verdict_names_each_missed_target():
    from mossnet.tools import e2e
    r = {"headline": {"float": {"median_s": 3.0}, "executorch:int8-ptq": {"median_s": 1.2},
                      "tflite:int8": {"median_s": 2.5}},
         "tiles": {"median_s": 0.25},
         "memory": {"tflite:int8": {"1080p": {"peak_mb": 80}, "4K": {"peak_mb": 82}, "8K": {"peak_mb": 95},
                                    "growth": 95 / 80}}}
    rows = e2e.verdict(r)  # ExecuTorch wall, LiteRT wall, the ratio to float, tiles, LiteRT memory growth
    assert [v["met"] for v in rows] == [True, False, False, True, False]
