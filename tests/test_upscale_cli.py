"""`python -m mossnet.upscale` on every kind of input a user may hand it."""
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from mossnet import upscale
from mossnet.core import image_io
from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, save_checkpoint

from conftest import ROOT, random_model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "xs.pt"
    save_checkpoint(path, random_model("xs"))
    return str(path)


def run(capsys, *argv):
    code = upscale.main(list(map(str, argv)) + ["--quiet"])
    err = capsys.readouterr().err.strip()
    return code, err


def assert_refused(capsys, out, *argv, match):
    code, err = run(capsys, *argv)
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("error:") and match in err, err
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def photo(h=20, w=30):
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb_png(tmp_path, capsys, ckpt):
    Image.fromarray(photo()).save(tmp_path / "in.png")
    assert run(capsys, tmp_path / "in.png", tmp_path / "out.png", "--ckpt", ckpt)[0] == 0
    out = Image.open(tmp_path / "out.png")
    assert out.size == (120, 80) and out.mode == "RGB"


@pytest.mark.parametrize("mode", ["L", "I;16", "P", "RGBA", "LA", "1"])
def test_other_pixel_formats(tmp_path, capsys, ckpt, mode):
    rgb = Image.fromarray(photo())
    if mode == "I;16":
        img = Image.fromarray((np.asarray(rgb.convert("L")).astype(np.uint16) * 257))
    elif mode in ("RGBA", "LA"):  # real transparency, kept in the output
        img = rgb.copy()
        img.putalpha(Image.fromarray(np.tile(np.arange(30, dtype=np.uint8) * 8, (20, 1))))
        img = img.convert(mode)
    else:
        img = rgb.convert(mode)
    img.save(tmp_path / "in.png")
    assert run(capsys, tmp_path / "in.png", tmp_path / "out.png", "--ckpt", ckpt)[0] == 0
    out = Image.open(tmp_path / "out.png")
    assert out.size == (120, 80)
    expected = {"L": "L", "I;16": "L", "1": "L", "P": "RGB", "RGBA": "RGBA", "LA": "LA"}[mode]
    assert out.mode == expected


def test_exif_rotation_is_applied(tmp_path, capsys, ckpt):
    img = Image.fromarray(photo(10, 24))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(tmp_path / "in.jpg", exif=exif)
    assert run(capsys, tmp_path / "in.jpg", tmp_path / "out.png", "--ckpt", ckpt)[0] == 0
    assert Image.open(tmp_path / "out.png").size == (40, 96)


@pytest.mark.parametrize("h,w", [(1, 1), (3, 2), (5, 70)])
def test_images_smaller_than_one_patch(tmp_path, capsys, ckpt, h, w):
    Image.fromarray(photo(h, w)).save(tmp_path / "in.png")
    assert run(capsys, tmp_path / "in.png", tmp_path / "out.webp", "--ckpt", ckpt)[0] == 0
    assert Image.open(tmp_path / "out.webp").size == (4 * w, 4 * h)


def test_truncated_and_non_images(tmp_path, capsys, ckpt):
    Image.fromarray(photo(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.png").write_text("hello")
    out = tmp_path / "out.png"
    assert_refused(capsys, out, tmp_path / "cut.png", out, "--ckpt", ckpt, match="truncated")
    assert_refused(capsys, out, tmp_path / "text.png", out, "--ckpt", ckpt, match="not an image")
    assert_refused(capsys, out, tmp_path / "none.png", out, "--ckpt", ckpt, match="no such file")


def test_corrupt_data_in_a_streamed_png_leaves_no_output(tmp_path, capsys, ckpt, monkeypatch):
    """A PNG whose chunks are whole but whose image data stops early is decoded as the tiles
    run (mossnet.core.png_reader): the error is still one line, and no output is left."""
    monkeypatch.setattr(image_io, "STREAM_PIXELS", 1)
    Image.fromarray(photo(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    n = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    body = data[41:41 + n][: n // 2]
    short = data[:33] + struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(">I", zlib.crc32(b"IDAT" + body))
    (tmp_path / "short.png").write_bytes(short + data[41 + n + 4:])
    out = tmp_path / "out.png"
    assert_refused(capsys, out, tmp_path / "short.png", out, "--ckpt", ckpt, match="unreadable or truncated")


def png_header_only(width, height):
    """A PNG whose header claims a huge size: decoding it would need gigabytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: (struct.pack(">I", len(body)) + kind + body
                                + struct.pack(">I", zlib.crc32(kind + body)))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding(tmp_path, capsys, ckpt):
    (tmp_path / "bomb.png").write_bytes(png_header_only(60000, 60000))
    out = tmp_path / "out.png"
    assert_refused(capsys, out, tmp_path / "bomb.png", out, "--ckpt", ckpt, match="over the limit")


def test_bad_flags_checkpoint_and_output(tmp_path, capsys, ckpt):
    Image.fromarray(photo()).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert_refused(capsys, out, tmp_path / "in.png", out, "--ckpt", ckpt, "--patch", "63", match="patch 63")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    assert_refused(capsys, out, tmp_path / "in.png", out, "--ckpt", tmp_path / "bad.pt", match="bad.pt")
    bad_out = tmp_path / "out.xyz"
    assert_refused(capsys, bad_out, tmp_path / "in.png", bad_out, "--ckpt", ckpt, match="unsupported output format")
    code, err = run(capsys, tmp_path / "in.png", tmp_path / "missing" / "o.png", "--ckpt", ckpt)
    assert code != 0 and "does not exist" in err


def test_shipped_weights_from_the_command_line(tmp_path):
    """What the README runs: the module, default weights, no other argument."""
    assert DEFAULT_CHECKPOINT.is_file()
    out = tmp_path / "sample_x4.png"
    proc = subprocess.run([sys.executable, "-m", "mossnet.upscale", str(ROOT / "examples" / "sample.png"), str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).size == (960, 640)


def test_output_formats_are_pillows_names_for_every_suffix():
    """The suffix table ``output_format`` reads instead of Pillow's plugin scan says what
    Pillow says, for every suffix the command lines write."""
    from PIL import Image

    from mossnet.core.image_io import FORMAT_OF_SUFFIX, IMAGE_SUFFIXES, output_format
    assert set(FORMAT_OF_SUFFIX) == IMAGE_SUFFIXES
    for suffix in IMAGE_SUFFIXES:
        assert output_format(f"out{suffix.upper()}") == Image.registered_extensions()[suffix]
