"""Issue 16: the input read a band of rows at a time (``mossnet.core.png_reader``), the row
windows the tiling driver reads it through, and the writer's page buffers. The reader must give
exactly Pillow's pixels, or step aside for Pillow."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from mossnet.core import image_io
from mossnet.core.image_io import ImageError, load_image
from mossnet.core.pages import CAN_RELEASE, CAN_TRIM, PAGE, PageBuffer
from mossnet.core.png import FILTERS, PNGStripWriter, write_png
from mossnet.core.png_reader import PNGRows, open_rows
from mossnet.core.rows import ArrayRows, BandWindow
from mossnet.core.tiling import TilingConfig, make_thumbnail, upscale_tiled


@pytest.fixture(autouse=True)
def stream_small_images(monkeypatch):
    monkeypatch.setattr(image_io, "STREAM_PIXELS", 1)


def photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    rgb[: h // 2] //= 16  # smooth rows and noisy rows
    return rgb


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def split_chunks(data: bytes):
    pos, out = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        out.append((kind, data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    return out


def join_chunks(chunks) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunk(k, b) for k, b in chunks)


def read_all(rows: PNGRows, band_bytes: int) -> np.ndarray:
    return np.concatenate([b for _, b in rows.bands(band_bytes)])


def pillow_rgb(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize("filter", list(FILTERS))
@pytest.mark.parametrize("grey", [False, True])
@pytest.mark.parametrize("h,w", [(1, 1), (7, 13), (67, 33)])
def test_every_filter_decodes_to_pillows_pixels(tmp_path, filter, grey, h, w):
    rgb = photo(h, w, h * w)
    path = tmp_path / "in.png"
    with open(path, "wb") as f:
        write_png(f, rgb, grayscale=grey, strip=5, filter=filter)
    rows = open_rows(path)
    assert rows is not None and rows.shape == (h, w, 3) and rows.grayscale == grey
    for band_bytes in (1, 3 * w + 1, 100, 1 << 16):  # one row a band, bands that do not divide the height
        assert np.array_equal(read_all(rows, band_bytes), pillow_rgb(path))


def test_pillows_own_files_many_idat_chunks_and_one_huge_one(tmp_path):
    rgb = photo(300, 200)
    Image.fromarray(rgb).save(tmp_path / "pillow.png")  # Pillow's adaptive filters, 64 KB IDAT chunks
    assert len([k for k, _ in split_chunks((tmp_path / "pillow.png").read_bytes()) if k == b"IDAT"]) > 1
    chunks = split_chunks((tmp_path / "pillow.png").read_bytes())
    idat = b"".join(b for k, b in chunks if k == b"IDAT")
    one = [c for c in chunks if c[0] != b"IDAT"]
    one.insert(1, (b"IDAT", idat))
    (tmp_path / "one.png").write_bytes(join_chunks(one))
    for name in ("pillow.png", "one.png"):
        loaded = load_image(tmp_path / name, stream=True)
        assert isinstance(loaded.rgb, PNGRows)
        assert np.array_equal(read_all(loaded.rgb, 1000), rgb)


@pytest.mark.parametrize("mode", ["L", "RGB", "I;16", "P", "P+tRNS", "RGB+tRNS", "RGBA", "LA", "1"])
def test_streaming_load_gives_what_the_whole_load_gives(tmp_path, mode):
    rgb = Image.fromarray(photo(20, 30))
    options = {"transparency": 0} if mode == "P+tRNS" else {"transparency": (0, 0, 0)} if mode == "RGB+tRNS" else {}
    if mode == "I;16":
        img = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257)
    elif mode in ("RGBA", "LA"):
        img = rgb.copy()
        img.putalpha(Image.fromarray(np.tile(np.arange(30, dtype=np.uint8) * 8, (20, 1))))
        img = img.convert(mode)
    else:
        img = rgb.convert(mode.split("+")[0])
    img.save(tmp_path / "in.png", **options)
    mode = mode.split("+")[0]
    whole, streamed = load_image(tmp_path / "in.png"), load_image(tmp_path / "in.png", stream=True)
    assert isinstance(streamed.rgb, PNGRows) == (mode in ("L", "RGB"))  # the rest goes through Pillow
    rgb_streamed = streamed.rgb if isinstance(streamed.rgb, np.ndarray) else read_all(streamed.rgb, 64)
    assert np.array_equal(rgb_streamed, whole.rgb)
    assert streamed.grayscale == whole.grayscale
    assert (streamed.alpha is None) == (whole.alpha is None)


def test_what_the_reader_leaves_to_pillow(tmp_path):
    Image.fromarray(photo(8, 8)).save(tmp_path / "plain.png")
    base = split_chunks((tmp_path / "plain.png").read_bytes())
    ihdr = base[0][1]

    def variant(name, chunks):
        (tmp_path / name).write_bytes(join_chunks(chunks))
        return open_rows(tmp_path / name)

    assert variant("text.png", base[:1] + [(b"tEXt", b"Software\0mossnet")] + base[1:]) is not None
    assert variant("icc.png", base[:1] + [(b"gAMA", struct.pack(">I", 45455))] + base[1:]) is not None
    interlaced = ihdr[:12] + b"\x01"
    assert variant("adam7.png", [(b"IHDR", interlaced)] + base[1:]) is None
    sixteen = ihdr[:8] + b"\x10" + ihdr[9:]
    assert variant("16bit.png", [(b"IHDR", sixteen)] + base[1:]) is None
    exif = Image.Exif()
    exif[0x0112] = 6
    assert variant("exif.png", base[:1] + [(b"eXIf", exif.tobytes()[6:])] + base[1:]) is None
    assert variant("xmp.png", base[:1] + [(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x/>")] + base[1:]) is None
    assert variant("late.png", base[:-1] + [(b"tEXt", b"Comment\0late")] + base[-1:]) is None
    assert variant("apng.png", base[:1] + [(b"acTL", struct.pack(">II", 1, 0))] + base[1:]) is None
    assert variant("no_end.png", base[:-1]) is None  # cut short: Pillow says how
    (tmp_path / "jpeg.png").write_bytes(b"\xff\xd8\xff" + bytes(100))
    assert open_rows(tmp_path / "jpeg.png") is None


def test_rotated_png_goes_through_pillow_and_comes_out_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(photo(10, 24)).save(tmp_path / "in.png", exif=exif)
    loaded = load_image(tmp_path / "in.png", stream=True)
    assert isinstance(loaded.rgb, np.ndarray) and loaded.rgb.shape == (24, 10, 3)


def test_corrupt_image_data_is_one_line_naming_the_file(tmp_path):
    Image.fromarray(photo(64, 64)).save(tmp_path / "full.png")
    chunks = split_chunks((tmp_path / "full.png").read_bytes())
    cut = [(k, b[: len(b) // 2] if k == b"IDAT" else b) for k, b in chunks]  # structure intact, data short
    bad = [(k, b[:2] + bytes(len(b) - 2) if k == b"IDAT" else b) for k, b in chunks]  # not deflate at all
    for name, variant, words in (("cut.png", cut, "truncated"), ("bad.png", bad, "unreadable")):
        (tmp_path / name).write_bytes(join_chunks(variant))
        rows = open_rows(tmp_path / name)
        assert rows is not None
        with pytest.raises(ImageError) as err:
            read_all(rows, 1000)
        assert name in str(err.value) and words in str(err.value) and "\n" not in str(err.value)


# -- the rows the tiling driver reads ----------------------------------------------------------
def test_band_window_gives_the_rows_asked_for_and_moves_only_down():
    image = photo(50, 7)
    bands = ((y, image[y:y + 6]) for y in range(0, 50, 6))
    window = BandWindow(bands)
    for lo, hi in [(0, 3), (0, 13), (2, 20), (11, 12), (11, 40), (39, 50), (49, 50)]:
        assert np.array_equal(window.rows(lo, hi), image[lo:hi])
    with pytest.raises(ValueError, match="only moves down"):
        window.rows(3, 10)
    short = BandWindow(iter([(0, image[:6])]))
    with pytest.raises(ValueError, match="ended"):
        short.rows(0, 10)


def test_band_window_reuses_one_buffer_of_a_request_and_a_band():
    """Each request's rows are copied into one buffer that is reused: a tile row's rows do not
    hold the bands they came from, nor a new copy beside the old one."""
    image = photo(400, 9)
    bands = ((y, image[y:y + 11]) for y in range(0, 400, 11))
    window = BandWindow(bands)
    first = window.rows(0, 80)
    base = first.base
    for top in range(56, 400 - 80, 64):  # tile rows of 64 with a halo of 8 (clamped at the top)
        rows = window.rows(top, top + 80)
        assert np.array_equal(rows, image[top:top + 80]) and rows.base is base
    assert base.shape[0] <= 80 + 11


def test_band_window_told_the_largest_request_never_grows():
    """The tiling driver's first request is clamped at the image's top (rows 0..72 of 80):
    told the largest, the window makes its buffer once; not told, it grows at the second."""
    image = photo(400, 9)
    for largest, grows in [(80, False), (0, True)]:
        window = BandWindow(((y, image[y:y + 11]) for y in range(0, 400, 11)), largest)
        base = window.rows(0, 72).base
        same = [window.rows(top, top + 80).base is base for top in range(56, 400 - 80, 64)]
        assert all(same) != grows, (largest, same)


def fake_programs(t: TilingConfig):
    """numpy stand-ins for the two programs: the output depends on every input pixel it reads."""
    def context_fn(thumb):
        return thumb.mean(axis=(2, 3), keepdims=True)

    def patch_fn(patch, modulation):
        core = patch[:, :, t.halo:t.halo + t.patch, t.halo:t.halo + t.patch] * 0.5 + patch.mean() * 0.25
        return (np.repeat(np.repeat(core, t.scale, 2), t.scale, 3) + modulation * 0.25).astype(np.float32)
    return context_fn, patch_fn


@pytest.mark.parametrize("h,w", [(1, 1), (5, 70), (33, 17), (64, 64), (131, 70)])
def test_tiles_from_a_png_row_source_equal_tiles_from_the_array(tmp_path, h, w):
    t = TilingConfig(scale=2, patch=16, halo=8, align=8, thumb=5)
    rgb = photo(h, w)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    rows = open_rows(tmp_path / "in.png")
    assert np.array_equal(make_thumbnail(rows, t), make_thumbnail(rgb, t))
    assert np.array_equal(make_thumbnail(ArrayRows(rgb), t), make_thumbnail(rgb, t))
    fns = fake_programs(t)
    assert np.array_equal(upscale_tiled(rows, *fns, t, as_float=True), upscale_tiled(rgb, *fns, t, as_float=True))


# -- the writer's page buffers ---------------------------------------------------------------
@pytest.mark.skipif(not CAN_RELEASE, reason="no madvise here: nothing is handed back")
def test_released_pages_come_back_as_zeros_and_can_be_written_again():
    buf = PageBuffer(5 * PAGE + 100)
    a = buf.array((5 * PAGE + 100,))
    a[:] = 7
    buf.release_to(2 * PAGE + 10)  # whole pages only
    assert not a[:2 * PAGE].any() and (a[2 * PAGE:] == 7).all()
    buf.release_all()
    assert not a.any()
    a = buf.array((5 * PAGE + 100,))
    a[:] = 9
    assert (a == 9).all()


def test_background_writer_output_is_the_synchronous_one():
    rgb = photo(300, 70)
    outs = []
    for background in (False, True):
        buf = io.BytesIO()
        with PNGStripWriter(buf, 300, 70, background=background) as writer:
            for y in range(0, 300, 64):  # strips of 64, the last shorter; tiles of 32 columns
                for x in range(0, 70, 32):
                    writer[y:min(300, y + 64), x:min(70, x + 32)] = rgb[y:y + 64, x:x + 32]
        outs.append(buf.getvalue())
    assert outs[0] == outs[1]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(outs[1]))), rgb)


def test_background_writer_keeps_pace_with_a_slow_encoder(monkeypatch):
    """A tile of the next strip waits until the encoder has handed back as large a share of
    the strip before as the tile fills: with an encoder far slower than the tiles, the two
    strips together never hold more than about one strip (here: the shares never overlap)."""
    import time

    import mossnet.core.png as png
    monkeypatch.setattr(png, "FILTER_BYTES", 70 * 3 * 8)  # 8 rows at a time
    slow = png.filter_rows

    def slow_filter(*a, **k):
        time.sleep(0.01)
        return slow(*a, **k)
    monkeypatch.setattr(png, "filter_rows", slow_filter)
    rgb = photo(192, 70)
    seen = []
    buf = io.BytesIO()
    with PNGStripWriter(buf, 192, 70, background=True) as writer:
        for y in range(0, 192, 64):
            for x in range(0, 70, 10):
                writer[y:y + 64, x:min(70, x + 10)] = rgb[y:y + 64, x:x + 10]
                if y:
                    seen.append((min(70, x + 10) / 70, writer._encoded))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), rgb)
    assert all(encoded >= filled for filled, encoded in seen), seen
    assert any(encoded < 1.0 for _, encoded in seen)  # the encoder was behind: the test waited on it


@pytest.mark.skipif(not CAN_TRIM, reason="no malloc_trim here (not glibc)")
def test_trim_heap_hands_back_the_holes_between_live_blocks():
    """Blocks below glibc's mmap threshold come from its heap; freeing every other one leaves
    holes that ``free`` keeps, and ``trim_heap`` gives back."""
    import ctypes
    import ctypes.util

    from mossnet.core.pages import trim_heap

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    size, n = 96 << 10, 160  # 15 MB in blocks under the 128 KB threshold
    blocks = [libc.malloc(size) for _ in range(n)]
    try:
        for b in blocks:
            ctypes.memset(b, 1, size)
        for b in blocks[::2]:
            libc.free(b)
        before = rss()
        trim_heap()
        assert before - rss() > n // 2 * size // 2  # more than half the holes' bytes came back
    finally:
        for b in blocks[1::2]:
            libc.free(b)
