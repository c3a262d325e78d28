"""Which lossless writer for the upscaler's output: ``python -m mossnet.tools.png_bench``.

Upscales a 960x540 resize of a photo (scikit-learn's ``china.jpg`` by default) to 3840x2160
with the shipped weights, then encodes that output with Pillow's compression levels, with
``mossnet.core.png`` (every PNG filter; the stdlib's zlib, zlib-ng and ISA-L; several levels
and strategies) and, when they are installed, with imagecodecs and OpenCV. Prints a Markdown table: wall time (best of
``--repeat``), bytes, and both as ratios to Pillow's default (``compress_level=6``) measured
in the same process. Every ``mossnet.core.png`` output is decoded with Pillow and compared
with the input pixels."""
from __future__ import annotations

import argparse
import importlib.util
import io
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from mossnet.core.png import DEFAULT_DEFLATE, DEFAULT_FILTER, DEFAULT_LEVEL, PNGStripWriter

STRIP = 256  # rows per strip: one tile row of the default tiling (64 LR px x 4)


def default_photo() -> Path:
    spec = importlib.util.find_spec("sklearn")
    if not spec or not spec.origin:
        raise SystemExit("error: scikit-learn is not installed; pass --image")
    return Path(spec.origin).parent / "datasets" / "images" / "china.jpg"


def upscaled(image: Path, cache: Path | None) -> np.ndarray:
    if cache is not None and cache.is_file():
        return np.load(cache)
    import mossnet
    lr = Image.open(image).convert("RGB").resize((960, 540), Image.BICUBIC)
    out = np.asarray(mossnet.load().upscale(lr))
    if cache is not None:
        np.save(cache, out)
    return out


def ours(rgb: np.ndarray, **options) -> bytes:
    buf = io.BytesIO()
    h, w = rgb.shape[:2]
    with PNGStripWriter(buf, h, w, "RGB", **options) as writer:
        for y in range(0, h, STRIP):
            writer.write_rows(y, rgb[y:y + STRIP])
    return buf.getvalue()


def pillow(rgb: np.ndarray, level: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=level)
    return buf.getvalue()


def candidates(rgb: np.ndarray, quick: bool):
    """(name, encode() -> bytes, checked) in table order."""
    yield "Pillow compress_level=6 (default)", lambda: pillow(rgb, 6), False
    yield "Pillow compress_level=1", lambda: pillow(rgb, 1), False
    if not quick:
        yield "Pillow compress_level=3", lambda: pillow(rgb, 3), False
    for f in ("sub", "paeth") if quick else ("none", "sub", "up", "average", "paeth"):
        yield f"mossnet.core.png {f}, zlib 1", \
            lambda f=f: ours(rgb, filter=f, level=1, strategy=zlib.Z_DEFAULT_STRATEGY, deflate="zlib"), True
    for f in ("sub", "paeth") if quick else ("sub", "up", "average", "paeth"):
        yield f"mossnet.core.png {f}, zlib 1 Z_RLE", \
            lambda f=f: ours(rgb, filter=f, level=1, strategy=zlib.Z_RLE, deflate="zlib"), True
    for f in ("sub", "paeth") if quick else ("sub", "up", "average", "paeth"):
        yield f"mossnet.core.png {f}, zlib-ng 1 Z_RLE", \
            lambda f=f: ours(rgb, filter=f, level=1, strategy=zlib.Z_RLE, deflate="zlib-ng"), True
    if not quick:
        for f in ("sub", "paeth"):
            yield f"mossnet.core.png {f}, zlib-ng 1", \
                lambda f=f: ours(rgb, filter=f, level=1, strategy=zlib.Z_DEFAULT_STRATEGY, deflate="zlib-ng"), True
        for level in (2, 3):
            yield f"mossnet.core.png sub, zlib-ng {level}", \
                lambda level=level: ours(rgb, filter="sub", level=level, strategy=zlib.Z_DEFAULT_STRATEGY,
                                         deflate="zlib-ng"), True
    for f in ("average", "paeth") if quick else ("sub", "up", "average", "paeth"):
        for level in (2,) if quick or f != DEFAULT_FILTER else (0, 1, 2, 3):
            default = f == DEFAULT_FILTER and level == DEFAULT_LEVEL and DEFAULT_DEFLATE == "isal"
            yield f"mossnet.core.png {f}, ISA-L {level}{' (default)' if default else ''}", \
                lambda f=f, level=level: ours(rgb, filter=f, level=level, deflate="isal"), True
    yield "mossnet.core.png default, background thread", lambda: ours(rgb, background=True), True
    if importlib.util.find_spec("imagecodecs"):
        import imagecodecs
        for level in (1, 6):
            yield f"imagecodecs.png_encode level={level} (libpng)", \
                lambda level=level: bytes(imagecodecs.png_encode(rgb, level=level)), False
        if hasattr(imagecodecs, "spng_encode"):
            yield "imagecodecs.spng_encode (libspng)", lambda: bytes(imagecodecs.spng_encode(rgb)), False
    if importlib.util.find_spec("cv2"):
        import cv2
        for level in (1, 3):
            yield f"OpenCV imencode compression={level}{' (default)' if level == 3 else ''}, incl. RGB->BGR", \
                lambda level=level: cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]),
                                                 [cv2.IMWRITE_PNG_COMPRESSION, level])[1].tobytes(), False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.png_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", type=Path, default=None, help="photo to resize to 960x540 (default china.jpg)")
    p.add_argument("--cache", type=Path, default=None, help="keep the 3840x2160 output here (.npy) between runs")
    p.add_argument("--repeat", type=int, default=2, help="runs per writer; the best is reported (default 2)")
    p.add_argument("--quick", action="store_true", help="fewer rows")
    args = p.parse_args(argv)
    rgb = upscaled(args.image or default_photo(), args.cache)
    print(f"{rgb.shape[1]}x{rgb.shape[0]} upscaled output ({rgb.nbytes / 1e6:.1f} MB raw), best of {args.repeat}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", file=sys.stderr)
    rows, base = [], None
    for name, encode, checked in candidates(rgb, args.quick):
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            data = encode()
            times.append(time.perf_counter() - start)
        if checked:
            decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            assert np.array_equal(decoded, rgb), f"{name}: decodes to other pixels"
        t = min(times)
        base = base or (t, len(data))
        rows.append((name, t, len(data)))
        print(f"  {name}: {t:.3f} s, {len(data):,} B", file=sys.stderr)
    print("| writer | time (s) | size (MB) | time / Pillow default | size / Pillow default |")
    print("|---|---|---|---|---|")
    for name, t, n in rows:
        print(f"| {name} | {t:.3f} | {n / 1e6:.2f} | {t / base[0]:.2f} | {n / base[1]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
