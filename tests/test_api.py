"""The Python API: ``mossnet.load`` upscales through a checkpoint and through every exported
artifact kind, PIL and numpy in, the same kind out."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import mossnet
from mossnet.core.checkpoint import DEFAULT_CHECKPOINT
from mossnet.core.errors import UserError

from conftest import ROOT, export

SAMPLE = ROOT / "examples" / "sample.png"


@pytest.fixture(scope="module")
def artifacts(quantized, tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    return {"pte": export("executorch", "int8-ptq", out, quantized),
            "tflite": export("tflite", "int8", out, quantized),
            "coreml": export("coreml", "fp16", out)}


def test_checkpoint_upscales_pil_and_numpy(rng):
    up = mossnet.load()
    assert (up.runtime, up.precision, up.scale) == ("pytorch", "fp32", 4)
    rgba = Image.new("RGBA", (20, 12), (10, 200, 30, 128))
    out = up.upscale(rgba)
    assert out.mode == "RGBA" and out.size == (80, 48)
    assert np.asarray(out)[..., 3].min() == 128  # alpha resized, not run through the network
    gray = rng.integers(0, 256, (9, 14), dtype=np.uint8)
    assert up.upscale(gray).shape == (36, 56)
    rgb = rng.integers(0, 256, (9, 14, 3), dtype=np.uint8)
    calls = []
    assert up.upscale(rgb, progress=lambda done, total: calls.append((done, total))).shape == (36, 56, 3)
    assert calls == [(1, 1)]
    with pytest.raises(UserError, match="uint8"):
        up.upscale(rgb.astype(np.float32))


@pytest.mark.parametrize("kind", ["pte", "tflite", "coreml"])
def test_every_artifact_kind_upscales_like_its_reference(kind, artifacts):
    up = mossnet.load(artifacts[kind])
    assert up.manifest["runtime"] == {"pte": "executorch", "tflite": "tflite", "coreml": "coreml"}[kind]
    image = Image.open(SAMPLE).convert("RGB").crop((40, 40, 140, 120))
    out = up.upscale(image)
    assert out.size == (400, 320)
    ref = np.asarray(mossnet.load().upscale(image), dtype=np.float64)
    mse = np.mean((np.asarray(out, dtype=np.float64) - ref) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) > 30  # int8 / fp16 against float: close, not equal


def test_streaming_output_receives_every_row(rng):
    up = mossnet.load()
    rgb = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    sink = np.zeros((280, 360, 3), np.uint8)
    up.upscale_rgb(rgb, out=sink)
    assert np.array_equal(sink, up.upscale(rgb))


def test_bad_paths_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        mossnet.load(tmp_path / "missing.pte")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="not a checkpoint"):
        mossnet.load(tmp_path / "notes.txt")


def test_python_c_one_liner(artifacts, tmp_path):
    """What the README shows, in a fresh interpreter, for a checkpoint and an artifact."""
    for path in (DEFAULT_CHECKPOINT, artifacts["pte"]):
        out = tmp_path / "out.png"
        code = (f"import mossnet; up = mossnet.load({str(path)!r}); "
                f"up.upscale_file({str(SAMPLE)!r}, {str(out)!r}); print(up.runtime)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-2000:]
        assert Image.open(out).size == (960, 640)


def test_importing_the_core_does_not_load_the_runtimes():
    code = ("import sys, mossnet.core.tiling, mossnet.core.pipeline; "
            "print(any(m.startswith(('targets', 'quantize', 'executorch')) for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "False", result.stderr


def test_litert_command_line_runs_without_torch(artifacts, tmp_path):
    """``targets.tflite upscale`` imports only what LiteRT needs: torch (about a second and
    150 MB) stays out of the process, and so do tqdm with ``-q`` (no bar to show) and Pillow's
    rarer plugins (a PNG output needs no format lookup). Checked in the process that really
    ran the command."""
    out = tmp_path / "out.png"
    code = ("import runpy, sys\n"
            f"sys.argv = ['x', 'upscale', {str(SAMPLE)!r}, {str(out)!r}, '--artifact', {str(artifacts['tflite'])!r}, '-q']\n"
            "try:\n    runpy.run_module('targets.tflite', run_name='__main__')\n"
            "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print(sorted(m for m in ('torch', 'tqdm', 'PIL.TiffImagePlugin') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
    assert Image.open(out).size == (960, 640)


def test_thread_policy_is_the_benchmarks_record_else_all_cpus(tmp_path, monkeypatch):
    import os

    from targets import threads
    monkeypatch.setenv("MOSSNET_CACHE", str(tmp_path))
    assert threads.default_threads("executorch") == (os.cpu_count(), "rule: all CPUs")
    threads.record({"executorch": 3, "tflite": 1}, "test")
    assert threads.default_threads("executorch")[0] == 3
    assert threads.default_threads("pytorch")[0] == os.cpu_count()  # not measured: the rule
    data = (tmp_path / "threads.json").read_text()
    monkeypatch.setattr(threads, "machine_key", lambda: "another machine")
    assert threads.default_threads("executorch")[0] == os.cpu_count()  # not this machine's record
    assert "another machine" not in data
