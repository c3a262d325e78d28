"""Hostile but realistic input to every command line: each case is one line on stderr, the
right exit code, no traceback, no lost file and no temporary left behind (issue 17).

Cases are tables per command, run in-process; signals and crashes run in subprocesses."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, save_checkpoint
from mossnet.core.hashing import sha256
from targets.manifest import manifest_path

from conftest import ROOT, random_model

SAMPLE = ROOT / "examples" / "sample.png"


def one_line_error(code, err, match):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code not in (0, None), err
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error:") and match in lines[0], err


def no_temporaries(folder: Path):
    assert not [p.name for p in Path(folder).iterdir() if p.name.startswith(".")]


def call(main, argv, capsys):
    """A CLI's ``main`` in-process: (exit code, stderr); argparse errors exit through SystemExit."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


# -- checkpoints -------------------------------------------------------------------------------
def edited_checkpoint(folder: Path, name: str, edit) -> Path:
    path = folder / f"{name}.pt"
    save_checkpoint(path, random_model("xs"))
    ckpt = torch.load(path, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, path)
    return path


def _nan(c):
    c["state_dict"]["upscaler.head.weight"][0, 0, 0, 0] = float("nan")


def _inf(c):
    c["state_dict"]["upscaler.tail.bias"][0] = float("inf")


CHECKPOINTS = [  # name, edit, message
    ("nan_weights", _nan, "NaN"),
    ("inf_weights", _inf, "NaN or infinite"),
    ("blocks_disagree", lambda c: c["config"].update(enc_blocks=[0, 1]), "enc_blocks"),
    ("channels_disagree", lambda c: c["config"].update(channels=[24]), "enc_blocks"),
    ("scale_contradicts", lambda c: c.update(scale=2), "contradicts"),
    ("arch_contradicts", lambda c: c.update(arch="mossnet-s"), "contradicts"),
    ("config_not_a_dict", lambda c: c.update(config=[1, 2]), "config must be a mapping"),
    ("channels_as_string", lambda c: c["config"].update(channels="24,36"), "channels"),
    ("state_dict_strings", lambda c: c.update(state_dict={"a": "b"}), "not a named tensor"),
    ("int_weights", lambda c: c["state_dict"].update({"upscaler.head.bias": torch.zeros(24, dtype=torch.int64)}),
     "not floating point"),
    ("unknown_config_field", lambda c: c["config"].update(depth=3), "unknown fields"),
    ("scale_3", lambda c: c["config"].update(scale=3), "scale must be 2 or 4"),
    ("up_unknown", lambda c: c["config"].update(up="bilinear"), "config up must be one of conv, interp"),
    ("up_contradicts_weights", lambda c: c["config"].update(up="interp"), "weights do not match"),
]


@pytest.mark.parametrize("name,edit,match", CHECKPOINTS, ids=[c[0] for c in CHECKPOINTS])
def test_upscale_refuses_bad_checkpoints(name, edit, match, tmp_path, capsys):
    from mossnet import upscale
    ckpt = edited_checkpoint(tmp_path, name, edit)
    out = tmp_path / "out.png"
    code, err = call(upscale.main, [SAMPLE, out, "--ckpt", ckpt, "-q"], capsys)
    one_line_error(code, err, match)
    assert not out.exists()
    no_temporaries(tmp_path)


# -- images, paths and flags -------------------------------------------------------------------
def _animated(path: Path) -> Path:
    frames = [Image.new("RGB", (12, 10), c) for c in ("red", "green", "blue")]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


UPSCALE_FLAGS = [  # name, argv builder(tmp) -> argv, expected exit, message (None: argparse)
    ("input_is_a_directory", lambda t: [t, t / "o.png"], 2, "is a directory"),
    # (one image and an existing folder writes into the folder, like cp: tests/test_batch.py)
    ("several_inputs_to_an_image_name", lambda t: [SAMPLE, SAMPLE, t / "o.png"], 2, "names an image file"),
    ("several_inputs_to_a_file", lambda t: [SAMPLE, SAMPLE, shutil.copy(SAMPLE, t / "o.png")], 2,
     "is not a folder"),
    ("output_is_input", lambda t: [shutil.copy(SAMPLE, t / "in.png"), t / "in.png"], 2, "is the input itself"),
    ("output_is_input_by_another_name", lambda t: [shutil.copy(SAMPLE, t / "in.png"), t / "." / "in.png"], 2,
     "is the input itself"),
    ("threads_0", lambda t: [SAMPLE, t / "o.png", "--threads", "0"], 2, None),
    ("threads_negative", lambda t: [SAMPLE, t / "o.png", "--threads", "-3"], 2, None),
    ("threads_huge", lambda t: [SAMPLE, t / "o.png", "--threads", "100000"], 2, None),
    ("max_pixels_negative", lambda t: [SAMPLE, t / "o.png", "--max-pixels", "-1"], 2, None),
    ("patch_huge", lambda t: [SAMPLE, t / "o.png", "--patch", "100000"], 2, "over the limit"),
    ("patch_string", lambda t: [SAMPLE, t / "o.png", "--patch", "big"], 2, None),
    ("output_folder_missing", lambda t: [SAMPLE, t / "no" / "o.png"], 2, "does not exist"),
    ("output_suffix", lambda t: [SAMPLE, t / "o.gif"], 2, "unsupported output format"),
    ("checkpoint_is_a_folder", lambda t: [SAMPLE, t / "o.png", "--ckpt", t], 2, "not a checkpoint"),
]


@pytest.mark.parametrize("name,argv,code,match", UPSCALE_FLAGS, ids=[c[0] for c in UPSCALE_FLAGS])
def test_upscale_refuses_bad_paths_and_flags(name, argv, code, match, tmp_path, capsys):
    from mossnet import upscale
    args = argv(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    got, err = call(upscale.main, args + ["-q"], capsys)
    assert got == code, err
    if match is None:  # an argparse error: usage + one error line, no traceback
        assert "Traceback" not in err and "error:" in err
    else:
        one_line_error(got, err, match)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing lost
    no_temporaries(tmp_path)


def test_overwrite_allows_replacing_the_input(tmp_path, capsys):
    from mossnet import upscale
    src = tmp_path / "in.png"
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(src)
    code, err = call(upscale.main, [src, src, "--overwrite", "-q", "--patch", "16"], capsys)
    assert code == 0, err
    assert Image.open(src).size == (32, 24)


def test_animation_says_which_frame(tmp_path, capsys):
    from mossnet import upscale
    code, err = call(upscale.main, [_animated(tmp_path / "a.gif"), tmp_path / "o.png", "-q", "--patch", "16"], capsys)
    assert code == 0 and "3 frames" in err and "first frame" in err and "Traceback" not in err
    assert Image.open(tmp_path / "o.png").size == (48, 40)


def test_outputs_have_normal_permissions(tmp_path, capsys):
    from mossnet import upscale
    old = os.umask(0o022)
    try:
        code, _ = call(upscale.main, [SAMPLE, tmp_path / "o.png", "-q"], capsys)
    finally:
        os.umask(old)
    assert code == 0 and (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644


# -- mossnet.eval ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(5, 5), (10, 30), (18, 18)])
def test_eval_refuses_images_too_small_to_score(size, tmp_path, capsys):
    from mossnet import eval as evaluate
    Image.fromarray(np.full((*size, 3), 128, np.uint8)).save(tmp_path / "tiny.png")
    code, err = call(evaluate.main, ["--data", tmp_path], capsys)
    one_line_error(code, err, "too small to evaluate")


# -- quantized pipeline folders ----------------------------------------------------------------
def edited_pipeline(quantized: Path, folder: Path, edit) -> Path:
    shutil.copytree(quantized, folder)
    meta = json.loads((folder / "quant.json").read_text())
    text = edit(meta)
    (folder / "quant.json").write_bytes(text if isinstance(text, bytes) else json.dumps(meta).encode())
    return folder


def _resign_garbage(folder: Path):
    (folder / "context.pt2").write_bytes(b"PK\x03\x04" + os.urandom(3000))
    meta = json.loads((folder / "quant.json").read_text())
    meta["program_sha256"]["context"] = sha256(folder / "context.pt2")
    return meta


PIPELINES = [  # name, edit(meta) -> None (edit in place) or bytes, message
    ("no_program_sha256", lambda m: m.pop("program_sha256"), "program_sha256"),
    ("patch_7", lambda m: m["tiling"].update(patch=7), "patch 7"),
    ("patch_as_string", lambda m: m["tiling"].update(patch="64"), "patch must be an integer"),
    ("patch_32_edited", lambda m: m["tiling"].update(patch=32), "imply"),
    ("halo_0_edited", lambda m: m["tiling"].update(halo=0), "imply"),
    ("tiling_missing", lambda m: m.pop("tiling"), "bad tiling"),
    ("scale_contradicts_config", lambda m: m["tiling"].update(scale=2), "contradicts"),
    ("empty_list", lambda m: b"[]", "not a quant.json object"),
    ("not_utf8", lambda m: b"\xff\xfe\x00garbage", "not UTF-8"),
    ("not_json", lambda m: b"{\"format_version\": 1,", "not valid JSON"),
    ("format_version_true", lambda m: m.update(format_version=True), "format version"),
    ("method_unknown", lambda m: m.update(method="int4"), "method"),
    ("config_inconsistent", lambda m: m["model_config"].update(dec_blocks=[1, 1]), "dec_blocks"),
]


@pytest.mark.parametrize("name,edit,match", PIPELINES, ids=[c[0] for c in PIPELINES])
def test_upscale_refuses_bad_quantized_folders(name, edit, match, quantized, tmp_path, capsys):
    from mossnet import upscale
    folder = edited_pipeline(quantized, tmp_path / "q", edit)
    code, err = call(upscale.main, [SAMPLE, tmp_path / "o.png", "--ckpt", folder, "-q"], capsys)
    one_line_error(code, err, match)


def test_resigned_garbage_program_in_a_pipeline(quantized, tmp_path, capsys):
    from mossnet import upscale
    folder = tmp_path / "q"
    shutil.copytree(quantized, folder)
    (folder / "quant.json").write_text(json.dumps(_resign_garbage(folder)))
    code, err = call(upscale.main, [SAMPLE, tmp_path / "o.png", "--ckpt", folder, "-q"], capsys)
    one_line_error(code, err, "not a loadable torch.export program")


PTQ_OUT = [  # name, prepare(tmp) -> out path, message
    ("foreign_folder", lambda t: (t / "d").mkdir() or (t / "d" / "notes.txt").write_text("keep") and t / "d",
     "not a quantized pipeline"),
    ("fake_quant_json_with_notes", lambda t: (t / "d").mkdir() or (t / "d" / "quant.json").write_text("{}")
     and (t / "d" / "notes.txt").write_text("keep") and t / "d", "notes.txt"),
    ("out_is_a_file", lambda t: (t / "f").write_text("keep") and t / "f", "not a folder"),
]


@pytest.mark.parametrize("name,prepare,match", PTQ_OUT, ids=[c[0] for c in PTQ_OUT])
def test_ptq_never_replaces_what_it_did_not_write(name, prepare, match, tmp_path, capsys):
    from quantize import ptq
    out = prepare(tmp_path)
    before = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    code, err = call(ptq.main, [DEFAULT_CHECKPOINT, "--out", out, "--num-calib", "1"], capsys)
    one_line_error(code, err, match)
    assert sorted((p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()) == before


def test_ptq_bad_patch_and_qat_bad_steps(tmp_path, capsys):
    from quantize import ptq, qat
    code, err = call(ptq.main, [DEFAULT_CHECKPOINT, "--patch", "100000", "--out", tmp_path / "q"], capsys)
    one_line_error(code, err, "over the limit")
    code, err = call(qat.main, [DEFAULT_CHECKPOINT, "--steps", "0", "--out", tmp_path / "q"], capsys)
    assert code == 2 and "Traceback" not in err
    assert not (tmp_path / "q").exists()


# -- exported artifacts ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_artifacts(tmp_path_factory):
    """One float ExecuTorch and one float LiteRT artifact of the shipped weights, exported at
    patch 16 to keep it quick; each test copies what it edits."""
    from conftest import export
    root = tmp_path_factory.mktemp("artifacts")
    return {rt: export(rt, "fp32", root / rt, patch=16) for rt in ("executorch", "tflite")}


def copy_artifact(artifact: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / artifact.name
    (shutil.copytree if artifact.is_dir() else shutil.copy)(artifact, dst)
    shutil.copy(manifest_path(artifact), manifest_path(dst))
    return dst


def _set(path, value):
    def edit(m):
        d = m
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return edit


def _retile(patch, halo):
    """A consistent, re-signed lie: the tiling and the tensor table agree with each other but
    not with the program (only the program-derived check can catch it)."""
    def edit(m):
        from mossnet.core.tiling import TilingConfig
        from targets.manifest import program_signatures
        t = TilingConfig(**dict(m["tiling"], patch=patch, halo=halo))
        m["tiling"] = t.to_dict()
        m["programs"] = program_signatures(t, m["programs"]["context"]["outputs"][0]["shape"][1])
    return edit


MANIFESTS = [  # name, edit(manifest dict) or bytes, message
    ("patch_32", _set(["tiling", "patch"], 32), "contradict its tiling"),
    ("halo_0", _set(["tiling", "halo"], 0), "contradict its tiling"),
    ("patch_as_string", _set(["tiling", "patch"], "16"), "patch must be an integer"),
    ("retiled_consistently", _retile(32, 0), "in the program but"),
    ("retiled_halo", _retile(16, 4), "in the program but"),
    ("align_1", _set(["tiling", "align"], 1), "align"),
    ("scale_2_everywhere", lambda m: (m["tiling"].update(scale=2), m["model"].update(scale=2)), "contradict"),
    ("empty_list", b"[]", "unsupported manifest schema"),
    ("no_artifact", lambda m: m.pop("artifact"), "artifact"),
    ("no_tiling", lambda m: m.pop("tiling"), "tiling"),
    ("no_programs", lambda m: m.pop("programs"), "programs"),
    ("not_utf8", b"\xff\xfe{}", "not UTF-8"),
    ("truncated_json", b'{"schema": "mossnet-artifact-manifest", ', "not valid JSON"),
    ("sha_not_hex", _set(["artifact", "sha256"], 12), "sha256"),
    ("parity_nan", _set(["parity", "output_psnr_db"], "nan"), "parity"),
    ("shape_negative", lambda m: m["programs"]["context"]["inputs"][0].update(shape=[1, 3, -64, 64]), "programs"),
    ("dtype_edited", lambda m: [t.update(dtype="float16") for s in m["programs"].values() for t in s["inputs"]],
     "contradict"),
]


def write_edited(artifact: Path, edit):
    m = json.loads(manifest_path(artifact).read_text())
    if isinstance(edit, bytes):
        manifest_path(artifact).write_bytes(edit)
    else:
        edit(m)
        manifest_path(artifact).write_text(json.dumps(m))


@pytest.mark.parametrize("runtime", ["executorch", "tflite"])
def test_artifact_upscale_refuses_edited_manifests(runtime, small_artifacts, tmp_path, capsys):
    from targets.cli import main
    for name, edit, match in MANIFESTS:
        artifact = copy_artifact(small_artifacts[runtime], tmp_path / name)
        write_edited(artifact, edit)
        out = tmp_path / name / "o.png"
        code, err = call(lambda a: main(runtime, a), ["upscale", SAMPLE, out, "--artifact", artifact, "-q"], capsys)
        try:
            one_line_error(code, err, match)
        except AssertionError as exc:
            raise AssertionError(f"{runtime} {name}: {exc}") from None
        assert not out.exists()


def resign(artifact: Path, data: bytes) -> None:
    artifact.write_bytes(data)
    m = json.loads(manifest_path(artifact).read_text())
    m["artifact"]["sha256"] = sha256(artifact)
    manifest_path(artifact).write_text(json.dumps(m))


def _mangled(data: bytes, start: float) -> bytes:
    b = bytearray(data)
    for i in range(int(len(b) * start), len(b), 101):
        b[i] = (b[i] + 37) % 256
    return bytes(b)


GARBAGE = [  # name, transform of the real bytes, message
    ("random_bytes", lambda d: os.urandom(len(d)), "not"),
    ("random_after_header", lambda d: d[:16] + os.urandom(len(d) - 16), ""),
    ("truncated", lambda d: d[: len(d) // 2], ""),
    ("mangled_tail", lambda d: _mangled(d, 0.6), ""),
    ("mangled_middle", lambda d: _mangled(d, 0.3), ""),
    ("empty", lambda d: b"", "not"),
]


@pytest.mark.parametrize("runtime", ["executorch", "tflite"])
def test_resigned_garbage_programs_are_one_line(runtime, small_artifacts, tmp_path):
    """In a subprocess: the runtime's loader is native code, and the point is that it cannot
    take the process down (a garbage .pte used to end in C++ ``terminate``, exit 134)."""
    real = small_artifacts[runtime].read_bytes()
    script = []
    for name, transform, match in GARBAGE:
        artifact = copy_artifact(small_artifacts[runtime], tmp_path / name)
        resign(artifact, transform(real))
        script.append((name, str(artifact), match))
    code = ("import sys, json\nfrom targets.cli import main\n"
            "for name, artifact, match in json.loads(sys.argv[1]):\n"
            "    print('CASE', name, file=sys.stderr, flush=True)\n"
            f"    rc = main({runtime!r}, ['upscale', {str(SAMPLE)!r}, artifact + '.png',"
            " '--artifact', artifact, '-q'])\n"
            "    print('RC', rc, file=sys.stderr, flush=True)\n")
    env = dict(os.environ, MOSSNET_CACHE=str(tmp_path / "cache"))
    if runtime == "executorch":  # its native runner's one-time build (a line of its own) first, else the bindings
        built = subprocess.run([sys.executable, "-m", "targets.executorch", "build-runner"], check=False,
                               capture_output=True, cwd=ROOT, env=env, timeout=600)
        env.setdefault("MOSSNET_EXECUTORCH_ENGINE", "native" if built.returncode == 0 else "bindings")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(script)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    blocks = proc.stderr.split("CASE ")[1:]
    assert len(blocks) == len(GARBAGE), proc.stderr[-2000:]
    for (name, _, match), block in zip(GARBAGE, blocks):
        lines = [ln for ln in block.splitlines()[1:] if ln.strip()]
        assert lines[-1] == "RC 2", (name, block)
        one_line_error(2, "\n".join(lines[:-1]), match)


def test_export_refusals(small_artifacts, tmp_path, capsys):
    from targets.cli import main
    et = lambda argv: main("executorch", argv)  # noqa: E731
    tf = lambda argv: main("tflite", argv)  # noqa: E731
    # a bad patch is about the patch, before any missing pipeline
    code, err = call(tf, ["export", "--patch", "7", "--out", tmp_path / "t"], capsys)
    one_line_error(code, err, "--patch")
    code, err = call(tf, ["export", "--patch", "100000", "--out", tmp_path / "t"], capsys)
    one_line_error(code, err, "over the limit")
    (tmp_path / "file").write_text("keep")
    code, err = call(et, ["export", "--precision", "fp32", "--out", tmp_path / "file"], capsys)
    one_line_error(code, err, "not a folder")
    # an artifact-named file that this tool did not write is not replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / small_artifacts["executorch"].name).write_text("my own notes")
    code, err = call(et, ["export", "--precision", "fp32", "--patch", "16", "--out", tmp_path / "mine"], capsys)
    one_line_error(code, err, "not written by this tool")
    assert (tmp_path / "mine" / small_artifacts["executorch"].name).read_text() == "my own notes"
    assert (tmp_path / "file").read_text() == "keep"


def test_exported_files_have_normal_permissions(small_artifacts):
    """Readable by group and others as a plain open() makes them (the test runs under umask
    022 or 002), never mkstemp's 0600."""
    for artifact in small_artifacts.values():
        for path in (artifact, manifest_path(artifact), artifact.parent):
            assert path.stat().st_mode & 0o044 == 0o044, path


# -- interruptions -----------------------------------------------------------------------------
BIG = 1600  # px: upscaling takes seconds, so that a signal lands mid-run


@pytest.fixture(scope="module")
def big_input(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (BIG // 2, BIG, 3), dtype=np.uint8)).save(path)
    return path


def _start(args):
    """``mossnet.upscale`` in its own session, with Ctrl-C's default action (a shell that
    started the tests in the background would have it ignored), once it is upscaling: its
    progress bar has started."""
    proc = subprocess.Popen([sys.executable, "-m", "mossnet.upscale", *map(str, args)], cwd=ROOT,
                            stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.set_blocking(proc.stderr.fileno(), False)
    seen, deadline = b"", time.time() + 120
    while b"upscaling" not in seen and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        seen += proc.stderr.read() or b""
    time.sleep(1.0)
    return proc, seen


def _rest(proc, seen: bytes) -> str:
    os.set_blocking(proc.stderr.fileno(), True)
    rest = proc.communicate(timeout=120)[1] or b""
    return (seen + rest).decode(errors="replace")


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signals_end_with_one_line_and_no_temporary(sig, code, word, big_input, tmp_path):
    proc, seen = _start([big_input, tmp_path / "out.png", "--threads", "1"])
    proc.send_signal(sig)
    err = _rest(proc, seen)
    if proc.returncode == 0:
        pytest.skip("finished before the signal")
    assert proc.returncode == code, err
    last = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip()][-1]
    assert last == word and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_sigkill_leaves_no_visible_partial_file(big_input, tmp_path):
    """Kill while saving: the output is written to an unnamed file (O_TMPFILE) and linked into
    place only when complete, so nothing at all may be left; a named leftover of a killed run
    is swept by the next one."""
    out = tmp_path / "out.png"
    proc, seen = _start([big_input, out, "--threads", "1"])
    proc.kill()
    _rest(proc, seen)
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert leftovers in ([], ["out.png"]), leftovers
    if out.exists():
        assert Image.open(out).size == (BIG * 4, BIG * 2)  # complete, never partial
    # a named temporary left by a killed run (no O_TMPFILE there) is swept by the next write
    stale = tmp_path / f".{out.name}.999999999.tmp"
    stale.write_bytes(b"partial")
    from mossnet.core.atomic import atomic_write
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(b"x"))
    assert not stale.exists() and out.read_bytes() == b"x"
