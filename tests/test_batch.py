"""Issue 16: the streaming PNG writer, folders and many files in one call, output formats, and
``mossnet.eval``'s progress. Small random models and images: fast."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from mossnet import eval as eval_cli
from mossnet import upscale
from mossnet.core.checkpoint import save_checkpoint
from mossnet.core.png import FILTERS, PNGStripWriter, write_png

from conftest import ROOT, random_model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "xs.pt"
    save_checkpoint(path, random_model("xs"))
    return str(path)


def photo(h=20, w=30, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def call(*argv):
    try:
        return upscale.main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code


def no_temporaries(folder):
    assert not [p for p in folder.rglob(".*")]


# -- the PNG writer ----------------------------------------------------------------------------
def pillow_reference(rgb, alpha, grayscale):
    img = Image.fromarray(rgb)
    if grayscale:
        img = img.convert("L")
    if alpha is not None:
        img.putalpha(Image.fromarray(alpha))
    return img


@pytest.mark.parametrize("filter", list(FILTERS))
@pytest.mark.parametrize("h,w", [(1, 1), (7, 13), (67, 33)])
@pytest.mark.parametrize("kind", ["RGB", "L", "RGBA", "LA"])
def test_png_round_trip(filter, h, w, kind):
    rng = np.random.default_rng(h * w)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgb[: h // 2] //= 16  # some smooth, some noisy rows
    alpha = rng.integers(0, 256, (h, w), dtype=np.uint8) if kind.endswith("A") else None
    buf = io.BytesIO()
    write_png(buf, rgb, alpha=alpha, grayscale=kind.startswith("L"), strip=5, filter=filter)
    got = Image.open(io.BytesIO(buf.getvalue()))
    ref = pillow_reference(rgb, alpha, kind.startswith("L"))
    assert got.mode == ref.mode == kind
    assert np.array_equal(np.asarray(got), np.asarray(ref))  # L exactly as Pillow's convert("L")


@pytest.mark.parametrize("background,filter_bytes", [(False, 1 << 20), (True, 1 << 20), (False, 1), (True, 200)])
def test_png_strips_of_different_heights_and_tiles_of_a_row(background, filter_bytes, monkeypatch):
    monkeypatch.setattr("mossnet.core.png.FILTER_BYTES", filter_bytes)  # strips filtered in pieces too
    rgb = photo(50, 37)
    buf = io.BytesIO()
    with PNGStripWriter(buf, 50, 37, background=background) as writer:
        y = 0
        for rows in (1, 16, 3, 30):
            for x0, x1 in ((0, 10), (10, 37)):  # tiles of one row, left to right
                writer[y:y + rows, x0:x1] = rgb[y:y + rows, x0:x1]
            y += rows
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), rgb)


@pytest.mark.parametrize("deflate,level", [("isal", 0), ("isal", 3), ("zlib-ng", 1), ("zlib", 6)])
def test_png_every_deflate_writes_one_valid_stream(deflate, level):
    rgb = photo(67, 33)
    buf = io.BytesIO()
    write_png(buf, rgb, strip=8, deflate=deflate, level=level, background=True)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), rgb)


def test_png_refuses_rows_out_of_order_and_missing_rows():
    writer = PNGStripWriter(io.BytesIO(), 10, 4)
    writer[0:4, 0:4] = photo(4, 4)
    with pytest.raises(ValueError, match="out of order"):
        writer[6:10, 0:4] = photo(4, 4)
    with pytest.raises(ValueError, match="only 4 of 10"):
        writer.close()


def test_upscaled_png_is_streamed_and_exact(ckpt, tmp_path):
    import mossnet
    up = mossnet.load(ckpt)
    rgb = photo(40, 70)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    up.upscale_file(tmp_path / "in.png", tmp_path / "out.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), up.upscale(rgb))


# -- folders and many files --------------------------------------------------------------------
def make_folder(folder, n=4, corrupt_at=None):
    folder.mkdir()
    names = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.fromarray(photo(12 + i, 16, seed=i)).save(path)
        if i == corrupt_at:
            path.write_bytes(path.read_bytes()[:60])
        names.append(path.name)
    return names


def test_folder_with_a_corrupt_file_in_the_middle(ckpt, tmp_path, capsys):
    make_folder(tmp_path / "in", 5, corrupt_at=2)
    (tmp_path / "in" / "notes.txt").write_text("not an image, not listed")
    code = call(tmp_path / "in", tmp_path / "out", "--ckpt", ckpt)
    err = capsys.readouterr().err
    assert code == 2
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "img2.png" in errors[0] and "truncated" in errors[0], err
    assert "Traceback" not in err
    assert "4 upscaled, 0 skipped, 1 failed" in err and "images/s" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["img0.png", "img1.png", "img3.png", "img4.png"]
    assert Image.open(tmp_path / "out" / "img4.png").size == (64, 64)
    no_temporaries(tmp_path / "out")


def test_several_inputs_into_a_folder_formats_and_quality(ckpt, tmp_path, capsys):
    make_folder(tmp_path / "in", 2)
    Image.fromarray(photo(20, 20, seed=9)).save(tmp_path / "in" / "c.jpg")
    files = [tmp_path / "in" / "img0.png", tmp_path / "in" / "c.jpg"]
    for fmt, pil in (("jpg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")):
        assert call(*files, tmp_path / fmt, "--ckpt", ckpt, "--format", fmt, "-q") == 0
        outs = sorted((tmp_path / fmt).iterdir())
        assert [p.name for p in outs] == [f"c.{fmt}", f"img0.{fmt}"]
        assert {Image.open(p).format for p in outs} == {pil}
    assert capsys.readouterr().err == ""  # -q: nothing
    sizes = {}
    for q in (10, 95):
        assert call(files[0], tmp_path / f"q{q}.jpg", "--ckpt", ckpt, "--quality", q, "-q") == 0
        sizes[q] = (tmp_path / f"q{q}.jpg").stat().st_size
    assert sizes[10] < sizes[95]
    assert call(files[0], tmp_path / "bad.jpg", "--ckpt", ckpt, "--quality", "0", "-q") == 2


def test_skip_existing(ckpt, tmp_path, capsys):
    make_folder(tmp_path / "in", 3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "img1.png").write_bytes(b"keep me")
    assert call(tmp_path / "in", tmp_path / "out", "--ckpt", ckpt, "--skip-existing") == 0
    assert "2 upscaled, 1 skipped, 0 failed" in capsys.readouterr().err
    assert (tmp_path / "out" / "img1.png").read_bytes() == b"keep me"
    assert call(tmp_path / "in", tmp_path / "out", "--ckpt", ckpt) == 0  # without the flag: replaced
    assert Image.open(tmp_path / "out" / "img1.png").size == (64, 52)


def test_a_batch_never_overwrites_an_input(ckpt, tmp_path, capsys):
    make_folder(tmp_path / "in", 2)
    Image.fromarray(photo(10, 10)).save(tmp_path / "in" / "x.jpg")
    before = {p.name: p.read_bytes() for p in (tmp_path / "in").iterdir()}
    code = call(tmp_path / "in", tmp_path / "in", "--ckpt", ckpt, "--overwrite")
    err = capsys.readouterr().err
    assert code == 2 and err.count("is an input") == 2, err
    assert {p.name: p.read_bytes() for p in (tmp_path / "in").iterdir() if p.name != "x.png"} == before
    assert Image.open(tmp_path / "in" / "x.png").size == (40, 40)  # the one that is no input's name


def test_one_image_into_a_folder_and_missing_inputs(ckpt, tmp_path, capsys):
    make_folder(tmp_path / "in", 1)
    (tmp_path / "out").mkdir()
    assert call(tmp_path / "in" / "img0.png", tmp_path / "out", "--ckpt", ckpt, "-q") == 0
    assert (tmp_path / "out" / "img0.png").is_file()
    code = call(tmp_path / "in" / "img0.png", tmp_path / "nope.png", tmp_path / "out2", "--ckpt", ckpt, "-q")
    err = capsys.readouterr().err
    assert code == 2 and "nope.png: no such file" in err and (tmp_path / "out2" / "img0.png").is_file()


# -- mossnet.eval --------------------------------------------------------------------------------
def test_eval_progress_on_stderr_unless_json_or_quiet(ckpt, capsys):
    data = str(ROOT / "examples")
    assert eval_cli.main(["--ckpt", ckpt, "--data", data, "--no-bicubic", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and json.loads(captured.out)["results"]
    assert eval_cli.main(["--ckpt", ckpt, "--data", data, "--no-bicubic", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert eval_cli.main(["--ckpt", ckpt, "--data", data, "--no-bicubic"]) == 0
    assert "examples" in capsys.readouterr().err  # the set's progress bar
