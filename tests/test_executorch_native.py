"""ExecuTorch's native runner (``targets/executorch/native.py``): the same C++ runtime as the
Python bindings, so the same bits; no torch in the command line's process; a corrupt program
is one line; without a compiler the bindings take over and say so."""
import hashlib
import json
import os
import subprocess
import sys
import weakref

import numpy as np
import pytest

from targets import registry
from targets.executorch import native
from targets.manifest import manifest_path

from conftest import ROOT, export

SAMPLE = ROOT / "examples" / "sample.png"


@pytest.fixture(scope="module")
def runner():
    """The runner, built into the user's cache if it is not there yet (the first use does)."""
    try:
        return native.Runner(native.library())
    except native.Unavailable as exc:
        pytest.skip(f"no native ExecuTorch runner here: {exc}")


@pytest.fixture(scope="module")
def artifacts(quantized, tmp_path_factory):
    out = tmp_path_factory.mktemp("native")
    return {"int8-ptq": export("executorch", "int8-ptq", out, quantized), "fp32": export("executorch", "fp32", out)}


def run_cli(args, env=None, torch_check=False, **kw):
    """``python -m targets.executorch ARGS`` in a fresh process (with ``torch_check``: through
    runpy, then print whether torch was imported, as tests/test_api.py does for LiteRT)."""
    env = {k: v for k, v in os.environ.items() if k != native.ENGINE_ENV} | (env or {})
    if torch_check:
        code = ("import runpy, sys\n"
                f"sys.argv = ['x', *{[str(a) for a in args]!r}]\n"
                "try:\n    runpy.run_module('targets.executorch', run_name='__main__')\n"
                "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
                "print('torch' in sys.modules)\n")
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, "-m", "targets.executorch", *map(str, args)]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600, **kw)


@pytest.mark.parametrize("precision", ["int8-ptq", "fp32"])
def test_native_runs_bit_for_bit_like_the_bindings(precision, runner, artifacts, monkeypatch, rng):
    rt, path = registry.get("executorch"), artifacts[precision]
    monkeypatch.setenv(native.ENGINE_ENV, "bindings")
    ref_context, ref_patch = rt.programs(path)
    declared = rt.declare(path)
    monkeypatch.setenv(native.ENGINE_ENV, "native")
    context, patch = rt.programs(path)
    assert rt.declare(path) == declared  # names, shapes and dtypes as the bindings read them
    assert isinstance(rt.load(path), native.Program)
    thumb_shape = declared["context"]["inputs"][0]["shape"]
    tile_shape = declared["upscale_patch"]["inputs"][0]["shape"]
    for _ in range(3):
        thumb = rng.random(thumb_shape, dtype=np.float32)
        modulation = context(thumb)
        assert modulation.shape == tuple(declared["context"]["outputs"][0]["shape"])
        assert np.array_equal(modulation, ref_context(thumb))
        tile = rng.random(tile_shape, dtype=np.float32) * 1.2 - 0.1  # a little outside [0, 1] too
        out = patch(tile, modulation)
        assert out.dtype == np.float32 and np.array_equal(out, ref_patch(tile, modulation))
    with pytest.raises(ValueError, match="declared"):
        patch(tile[..., :-1], modulation)


def test_an_output_is_filled_again_only_when_nothing_holds_it(runner, artifacts, rng):
    """The tile loop drops each output before the next call, so one array serves every tile;
    an output (or a view of it) that a caller keeps is never written again."""
    method = runner.open(artifacts["int8-ptq"]).load("upscale_patch")
    (tile_shape, _), (mod_shape, _) = method.inputs
    tiles = [rng.random(tile_shape, dtype=np.float32) for _ in range(3)]
    modulation = rng.random(mod_shape, dtype=np.float32)
    kept = method(tiles[0], modulation)[0]
    expected = kept.copy()
    view = method(tiles[1], modulation)[0][0]  # a view holds its array
    second = view.copy()
    third = method(tiles[2], modulation)[0]
    assert np.array_equal(kept, expected) and np.array_equal(view, second)
    assert not np.shares_memory(third, kept) and not np.shares_memory(third, view)
    dropped = weakref.ref(third)
    del third
    again = method(tiles[0], modulation)[0]
    assert dropped() is again and np.array_equal(again, expected)


def test_runner_registers_what_mossnet_programs_use(runner):
    assert "XnnpackBackend" in runner.backends()
    for op in ("aten::full.out", "aten::expand_copy.out", "aten::unsqueeze_copy.out"):
        assert runner.has_operator(op), op


def test_command_line_runs_natively_without_torch_and_writes_the_same_bytes(runner, artifacts, tmp_path):
    outs = {}
    for engine in ("native", "bindings"):
        outs[engine] = tmp_path / f"{engine}.png"
        result = run_cli(["upscale", SAMPLE, outs[engine], "--artifact", artifacts["int8-ptq"], "-q"],
                         {native.ENGINE_ENV: engine}, torch_check=True)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip() == str(engine == "bindings")  # torch only where the bindings run
        assert not result.stderr.strip(), result.stderr
    assert outs["native"].read_bytes() == outs["bindings"].read_bytes()


def test_native_runner_refuses_corrupt_programs_in_one_line(runner, artifacts, tmp_path):
    """Past check_pte (the identifier and header intact), the C++ loader itself must refuse:
    one line, exit 2, in the runner directly and through the command line."""
    real = artifacts["fp32"].read_bytes()
    cases = {"garbage_tail": real[:64] + os.urandom(len(real) - 64), "flipped": bytes(
        b ^ 0x5A if i % 97 == 0 and i > 64 else b for i, b in enumerate(real))}
    for name, data in cases.items():
        bad = tmp_path / name / artifacts["fp32"].name
        bad.parent.mkdir()
        bad.write_bytes(data)
        # the runner alone, in a child: a crash would fail the test, not take pytest down
        code = ("import sys\nfrom targets.executorch import native\n"
                "r = native.Runner(native.library(build=False))\n"
                "try:\n    p = r.open(sys.argv[1]); [p.load(m) for m in p.methods()]\n"
                "except native.NativeError as exc:\n    print('refused', exc)\n")
        proc = subprocess.run([sys.executable, "-c", code, str(bad)], check=False, capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
        assert proc.returncode == 0, (name, proc.returncode, proc.stderr[-1000:])
        assert proc.stdout.startswith("refused") and "InvalidProgram" in proc.stdout, (name, proc.stdout)
        # mangled weights may still load: the command line then refuses the output (NaN) or runs
        m = json.loads(manifest_path(artifacts["fp32"]).read_text())
        m["artifact"]["sha256"] = hashlib.sha256(data).hexdigest()
        manifest_path(bad).write_text(json.dumps(m))
        out = tmp_path / name / "out.png"
        result = run_cli(["upscale", SAMPLE, out, "--artifact", bad, "-q"], {native.ENGINE_ENV: "native"})
        if result.returncode:
            lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
            assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), result.stderr
            assert not out.exists()


def test_without_a_compiler_the_bindings_run_and_say_so(artifacts, tmp_path):
    """An empty cache and no compiler: one note on stderr, and the bindings upscale the image;
    forced native, one line and exit 2; a failing compiler is remembered, not retried."""
    args = ["upscale", SAMPLE, tmp_path / "out.png", "--artifact", artifacts["int8-ptq"], "-q"]
    env = {"MOSSNET_CACHE": str(tmp_path / "cache"), "CXX": str(tmp_path / "no-such-compiler")}
    result = run_cli(args, env, torch_check=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "True"  # the bindings ran
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("note: no C++ compiler") and "CXX" in lines[0], result.stderr
    assert (tmp_path / "out.png").is_file()
    result = run_cli(args, {**env, native.ENGINE_ENV: "native"})
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "no C++ compiler" in lines[0], result.stderr
    env["CXX"] = "false"  # a "compiler" that fails
    for attempt in ("failed", "failed before"):
        result = run_cli(args, env)
        assert result.returncode == 0, result.stderr[-2000:]
        note = [ln for ln in result.stderr.splitlines() if ln.startswith("note:")]
        assert len(note) == 1 and f"building the ExecuTorch runner {attempt}" in note[0], result.stderr


def test_build_runner_command(tmp_path):
    try:
        native.compiler()
    except native.Unavailable as exc:
        pytest.skip(str(exc))
    env = {"MOSSNET_CACHE": str(tmp_path)}
    first = run_cli(["build-runner"], env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.startswith("built: ") and "XnnpackBackend" in first.stdout
    assert first.stderr.startswith("building the ExecuTorch runner once")
    again = run_cli(["build-runner"], env)
    assert again.returncode == 0 and again.stdout.startswith("already built: ") and not again.stderr
    assert len(list((tmp_path / "executorch-runner").iterdir())) == 1  # the build, no temporaries


def test_engine_variable_takes_native_or_bindings(monkeypatch):
    from targets.runtime import ExportError
    monkeypatch.setenv(native.ENGINE_ENV, "bindings")
    assert native.runner() is None
    monkeypatch.setenv(native.ENGINE_ENV, "sideways")
    with pytest.raises(ExportError, match="choose native or bindings"):
        native.runner()
