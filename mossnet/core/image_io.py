"""Reading any image a user may hand us, and writing results atomically.

Every problem becomes an ``ImageError`` with a one-line message; the CLIs print it and exit
non-zero. Outputs go to a temporary file beside the target and are renamed into place, so a
failure never leaves a half-written file."""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mossnet.core.atomic import atomic_write
from mossnet.core.errors import ImageError, one_line
from mossnet.core.png import write_png
from mossnet.core.png_reader import PNGRows, open_rows

__all__ = ["atomic_write", "ImageError"]  # re-exported: callers elsewhere import them from here

# load_image checks the size itself (with a clear message) before decoding anything.
Image.MAX_IMAGE_PIXELS = None

# Inputs above this many pixels are refused (x4 output of 16 MP is 256 MP, about 0.8 GB).
DEFAULT_MAX_PIXELS = 16_000_000
# load_image(stream=True) reads PNG inputs from this size on a band of rows at a time: twice
# (thumbnail, tiles), about 25 ms a megapixel more than one whole decode (timed by hand on the
# benchmark machine); below it the whole input (under 3 MB) costs less than that time.
STREAM_PIXELS = 1_000_000
# Pillow's format name for each suffix read and written (what ``Image.registered_extensions()``
# says; tests/test_upscale_cli.py checks): asking Pillow imports every one of its plugins first,
# 26 ms of a 0.5 s command line (cProfile).
FORMAT_OF_SUFFIX = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                    ".tif": "TIFF", ".tiff": "TIFF"}
IMAGE_SUFFIXES = set(FORMAT_OF_SUFFIX)  # read and written


@dataclass
class LoadedImage:
    rgb: np.ndarray | PNGRows  # HxWx3 uint8; with load_image(stream=True) maybe rows read as needed
    alpha: np.ndarray | None  # HxW uint8, when the input had transparency
    grayscale: bool  # the input had no colour: write the result back as grayscale
    frames: int = 1  # an animation's frame count: only the first frame is read (callers say so)


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit single-channel modes -> 8-bit 'L' by scaling, not clipping."""
    arr = np.asarray(img)
    if img.mode == "F":
        arr = np.clip(arr, 0.0, 1.0) * 255.0 if arr.max(initial=0) <= 1.0 else np.clip(arr, 0, 255)
    else:
        arr = arr.astype(np.float64) / (65535.0 if arr.max(initial=0) > 255 else 255.0) * 255.0
    return Image.fromarray(np.floor(arr + 0.5).astype(np.uint8), mode="L")


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, stream: bool = False) -> LoadedImage:
    """The image as 8-bit RGB (``from_pil``), upright. With ``stream``, a plain 8-bit RGB or
    grey PNG of ``STREAM_PIXELS`` or more is not decoded here: ``rgb`` is a ``PNGRows`` that the
    tiling driver reads a band at a time (``mossnet.core.png_reader``), so it is never held whole."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    if not path.is_file():
        raise ImageError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    try:
        with Image.open(path) as img:
            w, h = img.size
            frames = int(getattr(img, "n_frames", 1) or 1)
            if w * h > max_pixels:
                raise ImageError(f"{path}: {w}x{h} is {w * h / 1e6:.1f} MP, over the limit of "
                                 f"{max_pixels / 1e6:.1f} MP (raise it with --max-pixels)")
            if stream and w * h >= STREAM_PIXELS and img.format == "PNG" and (rows := open_rows(path)) is not None:
                return LoadedImage(rgb=rows, alpha=None, grayscale=rows.grayscale)
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # not a copy of the whole image
            loaded = from_pil(img, str(path))  # inside: closing the file drops the pixels
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, TypeError, IndexError, KeyError, struct.error, EOFError,
            MemoryError, Image.DecompressionBombError) as exc:  # what Pillow's decoders raise on bad data
        raise ImageError(f"{path}: unreadable or truncated image ({one_line(exc)})") from None
    loaded.frames = frames
    return loaded


def from_pil(img: Image.Image, name: str = "image") -> LoadedImage:
    """Any Pillow image as 8-bit RGB plus its alpha and whether it was grayscale (palette,
    16-bit and float modes included). EXIF rotation is the caller's: ``load_image`` applies it."""
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        img = _to_8bit(img)
    grayscale = img.mode in ("1", "L", "LA")
    alpha = None
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(img.getchannel("A")).copy()
        if alpha.min() == 255:
            alpha = None
    # Pillow keeps RGB at four bytes a pixel: converting an RGB image would copy it once more
    # for nothing (8 MB of peak memory for a 1920x1080 input, measured by mossnet.tools.e2e).
    rgb = rgb_array(img if img.mode == "RGB" else img.convert("RGB"))
    if rgb.size == 0:
        raise ImageError(f"{name}: image has no pixels")
    return LoadedImage(rgb=rgb, alpha=alpha, grayscale=grayscale)


def rgb_array(img: Image.Image, band_bytes: int = 1 << 20) -> np.ndarray:
    """An RGB Pillow image as a new HxWx3 array, a band of rows at a time: ``np.asarray``
    of the whole goes through ``tobytes``, which holds the pixels twice more on the way."""
    w, h = img.size
    out = np.empty((h, w, 3), np.uint8)
    step = max(1, band_bytes // max(1, 3 * w))
    for y in range(0, h, step):
        out[y:y + step] = np.asarray(img.crop((0, y, w, min(h, y + step))))
    return out


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail before any work if the result could not be written there."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a directory; give the output file's name")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ImageError(f"{path}: unsupported output format {path.suffix or '(none)'!r}; "
                         f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ImageError(f"{path}: output folder {parent} does not exist")
    return path


def to_pil(rgb: np.ndarray, alpha: np.ndarray | None = None, grayscale: bool = False) -> Image.Image:
    """The inverse of ``from_pil``: RGB, RGBA, L or LA."""
    img = Image.fromarray(rgb, mode="RGB")
    if grayscale:
        img = img.convert("L")
    if alpha is not None:
        img.putalpha(Image.fromarray(alpha, mode="L"))
    return img


DEFAULT_QUALITY = {"JPEG": 92, "WEBP": 90}  # --quality when not given
OUTPUT_FORMATS = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}  # --format for folder outputs


def output_format(path: str | os.PathLike) -> str:
    """Pillow's format name for an output path's suffix (PNG, JPEG, WEBP, BMP, TIFF)."""
    return FORMAT_OF_SUFFIX[Path(path).suffix.lower()]


def keeps_alpha(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in (".png", ".webp", ".tif", ".tiff")


def save_image(path: str | os.PathLike, rgb: np.ndarray, alpha: np.ndarray | None = None,
               grayscale: bool = False, quality: int | None = None) -> None:
    """Write an HxWx3 uint8 result; alpha (same size) and grayscale follow the input. PNG goes
    through ``mossnet.core.png`` (fast, lossless), the rest through Pillow; ``quality`` is
    JPEG's and WebP's (default ``DEFAULT_QUALITY``)."""
    path = check_output_path(path)
    alpha = alpha if keeps_alpha(path) else None
    fmt = output_format(path)  # the temporary has no suffix to go by
    if fmt == "PNG":
        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                write_png(f, rgb, alpha=alpha, grayscale=grayscale)
        atomic_write(path, write)
        return
    img = to_pil(rgb, alpha, grayscale)
    options = {"quality": quality or DEFAULT_QUALITY[fmt]} if fmt in DEFAULT_QUALITY else {}
    atomic_write(path, lambda tmp: img.save(tmp, format=fmt, **options))


def resize_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """An alpha channel upscaled with bicubic: the network only sees colour."""
    h, w = alpha.shape
    return np.asarray(Image.fromarray(alpha).resize((w * scale, h * scale), Image.BICUBIC))


def iter_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files (by extension) below a folder, sorted for reproducibility; a path to an
    image file gives just that file."""
    folder = Path(folder)
    if folder.is_file():
        return [folder] if folder.suffix.lower() in IMAGE_SUFFIXES else []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
