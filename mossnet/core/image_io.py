"""Reading any image a user may hand us, and writing results atomically.

Every problem becomes an ``ImageError`` with a one-line message; the CLIs print it and exit
non-zero. Outputs go to a temporary file beside the target and are renamed into place, so a
failure never leaves a half-written file."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mossnet.core.errors import UserError

# load_image checks the size itself (with a clear message) before decoding anything.
Image.MAX_IMAGE_PIXELS = None

# Inputs above this many pixels are refused (x4 output of 16 MP is 256 MP, about 0.8 GB).
DEFAULT_MAX_PIXELS = 16_000_000
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}  # read and written


class ImageError(UserError):
    """A one-line, user-facing problem with an input or output image."""


@dataclass
class LoadedImage:
    rgb: np.ndarray  # HxWx3 uint8
    alpha: np.ndarray | None  # HxW uint8, when the input had transparency
    grayscale: bool  # the input had no colour: write the result back as grayscale


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit single-channel modes -> 8-bit 'L' by scaling, not clipping."""
    arr = np.asarray(img)
    if img.mode == "F":
        arr = np.clip(arr, 0.0, 1.0) * 255.0 if arr.max(initial=0) <= 1.0 else np.clip(arr, 0, 255)
    else:
        arr = arr.astype(np.float64) / (65535.0 if arr.max(initial=0) > 255 else 255.0) * 255.0
    return Image.fromarray(np.floor(arr + 0.5).astype(np.uint8), mode="L")


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"{path}: {w}x{h} is {w * h / 1e6:.1f} MP, over the limit of "
                                 f"{max_pixels / 1e6:.1f} MP (raise it with --max-pixels)")
            img.load()
            img = ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{path}: unreadable or truncated image ({exc})") from None

    return from_pil(img, str(path))


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
    rgb = np.asarray(img.convert("RGB")).copy()
    if rgb.size == 0:
        raise ImageError(f"{name}: image has no pixels")
    return LoadedImage(rgb=rgb, alpha=alpha, grayscale=grayscale)


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail before any work if the result could not be written there."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ImageError(f"{path}: unsupported output format {path.suffix or '(none)'!r}; "
                         f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ImageError(f"{path}: output folder {parent} does not exist")
    return path


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` then rename into place; remove the temporary file on failure."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent or ".")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_pil(rgb: np.ndarray, alpha: np.ndarray | None = None, grayscale: bool = False) -> Image.Image:
    """The inverse of ``from_pil``: RGB, RGBA, L or LA."""
    img = Image.fromarray(rgb, mode="RGB")
    if grayscale:
        img = img.convert("L")
    if alpha is not None:
        img.putalpha(Image.fromarray(alpha, mode="L"))
    return img


def save_image(path: str | os.PathLike, rgb: np.ndarray, alpha: np.ndarray | None = None,
               grayscale: bool = False) -> None:
    """Write an HxWx3 uint8 result; alpha (same size) and grayscale follow the input."""
    path = check_output_path(path)
    img = to_pil(rgb, alpha if path.suffix.lower() in (".png", ".webp", ".tif", ".tiff") else None, grayscale)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        atomic_write(path, lambda tmp: img.save(tmp, quality=95))
    else:
        atomic_write(path, lambda tmp: img.save(tmp))


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
