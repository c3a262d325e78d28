"""The on-device self-test: reference cases for one exact artifact, written beside it.

``<artifact>.selftest.json`` holds inputs and the outputs the artifact's *reference* (the int8
PyTorch program of its quantized pipeline, or float eager PyTorch) gives for them:

- ``context``: one thumbnail (float32) and the modulation it gives (passes at
  ``CONTEXT_MIN_SNR_DB``: the images' bound applies to the cases below);
- ``tiles``: a few single ``upscale_patch`` calls (uint8 patches of real photos, run with the
  reference modulation) and their uint8 outputs;
- ``photo``: one whole upscale at the artifact's own tiling (64 / 8 for the shipped models) of
  a small image stored *sideways with EXIF orientation 6* and *with alpha*, as the stored RGBA
  pixels, the orientation, and the expected RGBA output of the Python pipeline (EXIF applied,
  RGB through the tiled reference, alpha resized with bicubic: docs/conformance.md, "photos").

The publish step (``targets.publish``) writes it and records ``{"file", "sha256", "bytes"}``
under the manifest's ``selftest``; the apps' cores (``SelfTest.kt``, ``SelfTest.swift``) check
that hash, run every case through the phone's runtime and compare the tiles' and the photo's
PSNR with the manifest's ``selftest.bound_db`` (see ``selftest_bound``). ``check_selftest`` below is the same check in Python, used by the tests
to run a self-test through ExecuTorch's own runtime here.

Format, version 1 (all arrays base64, row-major; uint8 images are HWC, float32 little-endian
NCHW with N = 1)::

    {"format": "mossnet-selftest", "format_version": 1, "artifact_sha256": hex,
     "tiling": {...}, "reference": str,
     "context": {"thumbnail_f32_b64", "modulation_f32_b64", "modulation_dim", "min_snr_db"},
     "tiles": [{"name", "patch_u8_b64", "expected_u8_b64"}],
     "photo": {"name", "width", "height", "orientation", "rgba_b64",
               "out_width", "out_height", "tiles", "expected_rgba_b64"}}
"""
from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np

from mossnet.core.atomic import atomic_write
from mossnet.core.hashing import sha256
from mossnet.core.image_io import load_image, resize_alpha
from mossnet.core.metrics import psnr
from mossnet.core.tiling import TilingConfig, make_thumbnail, plan_tiles, to_model_input, to_uint8, upscale_tiled

from .runtime import Programs

FORMAT, FORMAT_VERSION = "mossnet-selftest", 1
PSNR_CAP = 200.0  # identical outputs report this (JSON has no infinity); same in the cores
# The context case's floor. The manifest's bound is about output images; the modulation reaches
# them only through the patch program, and the photo case measures that effect end to end with
# the runtime's own modulation. So the context case only has to show a working program: an SNR
# of 30 dB is a modulation within about 3 % RMS (w8a8 in fp16 gives 41.6 dB here, a missing or
# wrong program far less: zeros 0 dB, a 20 % gain error 14 dB).
CONTEXT_MIN_SNR_DB = 30.0
EXIF_ORIENTATION = 0x0112


def selftest_path(artifact: str | Path) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".selftest.json")


def _b64(a) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def alpha_pattern(height: int, width: int) -> np.ndarray:
    """A synthetic alpha: opaque centre, a soft ramp, a fully transparent corner and a hole."""
    yy, xx = np.mgrid[0:height, 0:width]
    d = np.hypot((yy - height / 2) / max(height, 1), (xx - width / 2) / max(width, 1))
    a = np.clip(np.round(255 * (0.62 - d) / 0.3), 0, 255).astype(np.uint8)
    a[: max(1, height // 5), : max(1, width // 5)] = 0
    a[height // 2, width // 3] = 0
    return a


def stored_photo(upright_rgb: np.ndarray, orientation: int = 6) -> tuple[np.ndarray, int]:
    """Stored RGBA pixels that EXIF ``orientation`` turns into ``upright_rgb`` + alpha_pattern:
    for 6 (rotate 90 CW to display) the stored image is the upright one turned 90 CCW."""
    assert orientation == 6
    h, w, _ = upright_rgb.shape
    rgba = np.dstack([upright_rgb, alpha_pattern(h, w)])
    return np.ascontiguousarray(np.rot90(rgba, 1)), orientation


def python_photo(rgba: np.ndarray, orientation: int, context_fn, patch_fn, t: TilingConfig) -> np.ndarray:
    """What the Python CLI makes of stored RGBA pixels with an EXIF orientation: the real
    reader (``load_image``: EXIF applied, alpha split off), the tiled upscale of the RGB and
    ``resize_alpha``; HxWx4 uint8 (alpha 255 where the input had none)."""
    from PIL import Image
    import tempfile
    img = Image.fromarray(rgba, "RGBA")
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.png"
        img.save(path, exif=exif.tobytes())
        loaded = load_image(path)
    rgb = upscale_tiled(loaded.rgb, context_fn, patch_fn, t)
    alpha = resize_alpha(loaded.alpha, t.scale) if loaded.alpha is not None \
        else np.full(rgb.shape[:2], 255, np.uint8)
    return np.dstack([rgb, alpha])


def _uint8_chw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(to_uint8(x[0]))


def build_selftest(reference: Programs, t: TilingConfig, artifact_sha256: str, reference_name: str,
                   images: list[tuple[str, np.ndarray]], tiles: int = 2, photo_size: tuple[int, int] = (44, 60),
                   ) -> dict:
    """The self-test document for an artifact whose reference programs are ``reference``.
    ``images``: (name, HxWx3 uint8) sources for the tiles and the photo (real photos for a real
    artifact); tiles are cut from their centres, the photo from the first image's."""
    context_fn, patch_fn = reference
    n = t.input_size
    name0, first = images[0]
    thumb = make_thumbnail(first, t)
    modulation = np.asarray(context_fn(thumb), dtype=np.float32)
    cases = []
    for i in range(tiles):
        name, im = images[i % len(images)]
        h, w, _ = im.shape
        y = min(max(0, h - n), max(0, (h - n) // 2 + (i // len(images)) * n))
        x = max(0, (w - n) // 2)
        ys = np.clip(np.arange(y, y + n), 0, h - 1)
        xs = np.clip(np.arange(x, x + n), 0, w - 1)
        patch = np.ascontiguousarray(im[ys][:, xs])
        out = _uint8_chw(np.asarray(patch_fn(to_model_input(patch), modulation), dtype=np.float32))
        cases.append({"name": f"{name} tile at ({y}, {x})", "patch_u8_b64": _b64(patch),
                      "expected_u8_b64": _b64(out)})
    ph, pw = photo_size
    h, w, _ = first.shape
    y, x = max(0, (h - ph) // 2), max(0, (w - pw) // 2)
    upright = np.ascontiguousarray(first[y:y + ph, x:x + pw])
    stored, orientation = stored_photo(upright)
    expected = python_photo(stored, orientation, context_fn, patch_fn, t)
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "artifact_sha256": artifact_sha256,
            "tiling": t.to_dict(), "reference": reference_name,
            "context": {"thumbnail_f32_b64": _b64(thumb.astype("<f4")),
                        "modulation_f32_b64": _b64(modulation.astype("<f4")),
                        "modulation_dim": int(modulation.size), "min_snr_db": CONTEXT_MIN_SNR_DB},
            "tiles": cases,
            "photo": {"name": f"{name0} [{y}:{y + upright.shape[0]}, {x}:{x + upright.shape[1]}], stored "
                              f"turned 90 CCW with EXIF orientation 6, synthetic alpha",
                      "width": int(stored.shape[1]), "height": int(stored.shape[0]), "orientation": orientation,
                      "rgba_b64": _b64(stored), "out_width": int(expected.shape[1]),
                      "out_height": int(expected.shape[0]),
                      "tiles": len(plan_tiles(upright.shape[0], upright.shape[1], t)),
                      "expected_rgba_b64": _b64(expected)}}


def dumps(doc: dict) -> bytes:
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def write_selftest(artifact: Path, doc: dict, name: str | None = None) -> dict:
    """Write ``doc`` beside ``artifact`` (under the published ``name``'s self-test name); the
    manifest's ``selftest`` entry."""
    path = selftest_path(artifact.with_name(name) if name else artifact)
    data = dumps(doc)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    return {"file": path.name, "sha256": sha256(path), "bytes": len(data)}


# ---- the check, as the apps' cores run it (and the tests here, through a real runtime) ----

def snr_db(reference: np.ndarray, got: np.ndarray) -> float:
    """Signal-to-noise of a float vector (the modulation), capped like PSNR."""
    ref, got = reference.astype(np.float64), got.astype(np.float64)
    noise = float(np.sum((ref - got) ** 2))
    if noise == 0:
        return PSNR_CAP
    return min(PSNR_CAP, 10 * math.log10(max(float(np.sum(ref ** 2)), 1e-30) / noise))


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    return min(PSNR_CAP, psnr(a, b))


def selftest_bound(figures: list[list[tuple[str, float, bool]]], precision_bound: float,
                   margin: float = 1.0) -> float:
    """The bound the self-test's cases are held to, set at export from the artifact's own run
    of them (``figures``: one ``check_selftest`` report per valid execution: the runtime, and
    each of Core ML's fp16 modes). The cases compare uint8 outputs of single tiles, where
    rounding flips and the small area weigh more than on the parity images: a fp16 Core ML
    build whose images reach 70 dB gives about 60 dB on a tile. So the bound is the lowest case
    over the executions, minus their spread on it and ``margin``, rounded down to 0.5 dB (the
    rule of ``targets/coreml/fp16_range.py``), and never above the precision's own bound."""
    per_case = list(zip(*[[db for _, db, _ in report[1:]] for report in figures]))  # the context has its floor
    low, high = min((min(c), max(c)) for c in per_case)
    return min(precision_bound, math.floor((low - (high - low) - margin) * 2) / 2)


def check_selftest(data: bytes, manifest: dict, programs: Programs,
                   bound: float | None = None) -> list[tuple[str, float, bool]]:
    """Run a self-test through ``programs``: [(case, dB, passed)] against the manifest's bound
    (or ``bound``). The hash of ``data`` must be the manifest's ``selftest.sha256``."""
    import hashlib
    if hashlib.sha256(data).hexdigest() != manifest["selftest"]["sha256"]:
        raise ValueError("self-test file does not match its manifest's SHA-256")
    doc = json.loads(data)
    if bound is None:
        bound = float(manifest["selftest"].get("bound_db", manifest["parity"]["bound_db"]))
    t = TilingConfig.from_dict(doc["tiling"])
    context_fn, patch_fn = programs
    dec = lambda s, dt: np.frombuffer(base64.b64decode(s), dtype=dt)  # noqa: E731
    n, o = t.input_size, t.output_size
    thumb = dec(doc["context"]["thumbnail_f32_b64"], "<f4").reshape(1, 3, t.thumb, t.thumb)
    mod_ref = dec(doc["context"]["modulation_f32_b64"], "<f4").reshape(1, -1, 1, 1)
    db = snr_db(mod_ref, np.asarray(context_fn(thumb.copy())))
    report = [("context (modulation SNR)", db, db >= float(doc["context"]["min_snr_db"]))]
    for case in doc["tiles"]:
        patch = dec(case["patch_u8_b64"], np.uint8).reshape(n, n, 3)
        got = _uint8_chw(np.asarray(patch_fn(to_model_input(patch), mod_ref.copy())))
        db = psnr_u8(got, dec(case["expected_u8_b64"], np.uint8).reshape(o, o, 3))
        report.append((case["name"], db, db >= bound))
    p = doc["photo"]
    rgba = dec(p["rgba_b64"], np.uint8).reshape(p["height"], p["width"], 4)
    got = python_photo(rgba, p["orientation"], context_fn, patch_fn, t)
    want = dec(p["expected_rgba_b64"], np.uint8).reshape(p["out_height"], p["out_width"], 4)
    db = psnr_u8(got[..., :3], want[..., :3]) if got.shape == want.shape else 0.0
    alpha_ok = got.shape == want.shape and np.array_equal(got[..., 3], want[..., 3])
    report.append(("photo (EXIF 6, alpha)", db, db >= bound and alpha_ok))
    return report
