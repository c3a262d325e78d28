"""Write the cross-language conformance vectors (docs/conformance.md).

``python -m mossnet.tools.conformance [--out PATH]`` builds ``tests/conformance/vectors.json`` only by
calling the real Python implementation (``mossnet.core.tiling``, ``targets.manifest``, the LiteRT
runner's int8 I/O); the Kotlin and Swift cores must reproduce every case exactly. The only
stand-in is the fake patch model, defined in docs/conformance.md so that its integer-exact
output exposes any misplaced tile, wrong halo, ownership, clamping or rounding."""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from mossnet.core import tiling
from mossnet.core.image_io import atomic_write
from mossnet.core.tiling import TilingConfig

FORMAT, FORMAT_VERSION = "mossnet-conformance", 1
DEFAULT_OUT = Path("tests/conformance/vectors.json")
THUMB_TOLERANCE = 1e-6  # absolute, float32 thumbnails across languages

# Tiling configs the plans are checked for: the shipped default and small, odd ones.
PLAN_CONFIGS = [
    TilingConfig(scale=4, patch=64, halo=8, align=2, thumb=64),
    TilingConfig(scale=4, patch=16, halo=4, align=2, thumb=8),
    TilingConfig(scale=2, patch=16, halo=4, align=2, thumb=8),
    TilingConfig(scale=4, patch=12, halo=4, align=4, thumb=8),
    TilingConfig(scale=3, patch=10, halo=0, align=2, thumb=4),
]
SMALL_SIZES = [(1, 1), (1, 100), (5, 7), (15, 17), (16, 16), (17, 33), (63, 64), (65, 129), (100, 37)]
LARGE_SIZES = [(1080, 1920), (540, 960), (1081, 1919)]  # plans only, default config only

# (name, tiling, height, width, modulation): full tiled upscales through the fake models.
UPSCALE_CASES = [
    ("1x1_x4", TilingConfig(4, 16, 4, 2, 8), 1, 1, [3, 1, 4]),
    ("5x7_x4", TilingConfig(4, 16, 4, 2, 8), 5, 7, [2, 7, 1, 8]),
    ("16x16_x4_one_tile", TilingConfig(4, 16, 4, 2, 8), 16, 16, [0]),
    ("29x37_x4", TilingConfig(4, 16, 4, 2, 8), 29, 37, [5, 9, 2, 6]),
    ("21x34_x4_align4", TilingConfig(4, 12, 4, 4, 8), 21, 34, [1, 1, 2]),
    ("5x7_x2", TilingConfig(2, 16, 4, 2, 8), 5, 7, [16, 0, 16, 0]),
    ("46x66_x2", TilingConfig(2, 16, 4, 2, 8), 46, 66, [11, 3, 13]),
    ("33x18_x2_halo0", TilingConfig(2, 10, 0, 2, 4), 33, 18, [4]),
]


def _b64(a: np.ndarray | bytes) -> str:
    return base64.b64encode(bytes(a) if isinstance(a, bytes) else np.ascontiguousarray(a).tobytes()).decode()


def _f32(v) -> float:
    """A float32 as the exact double JSON writes (parse as double, narrow to float32: exact)."""
    return float(np.float32(v))


def sample_image(height: int, width: int, seed: int) -> np.ndarray:
    """HxWx3 uint8 from a SplitMix64 hash of the byte index: stable across numpy versions."""
    with np.errstate(over="ignore"):
        z = np.arange(height * width * 3, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(56)).astype(np.uint8).reshape(height, width, 3)


# ---- the fake models (docs/conformance.md, "The fake models") ----

def fake_context_model(modulation: list[int], t: TilingConfig):
    def context_fn(thumb: np.ndarray) -> np.ndarray:
        assert thumb.shape == (1, 3, t.thumb, t.thumb) and thumb.dtype == np.float32, thumb.shape
        return np.asarray(modulation, dtype=np.float32).reshape(1, -1, 1, 1)
    return context_fn


def fake_patch_model(t: TilingConfig):
    s, p, h = t.scale, t.patch, t.halo

    def patch_fn(x: np.ndarray, modulation: np.ndarray) -> np.ndarray:
        assert x.shape == (1, 3, t.input_size, t.input_size) and x.dtype == np.float32, x.shape
        q = np.floor(x[0] * np.float32(255) + np.float32(0.5)).astype(np.int64)
        m = modulation.reshape(-1).astype(np.int64)
        yy, xx = np.meshgrid(np.arange(s * p), np.arange(s * p), indexing="ij")
        u, v, a, b = yy // s, xx // s, yy % s, xx % s
        r = np.array([0, 1, 3])[(u + v + a + b) % 3]
        out = np.empty((1, 3, s * p, s * p), dtype=np.float32)
        for c in range(3):
            centre = q[c, u + h, v + h]
            before = q[(c + 1) % 3, u, v]
            after = q[(c + 2) % 3, u + 2 * h, v + 2 * h]
            d = (before + 2 * after + 3 * a + 5 * b + 7 * u + 11 * v + m[c % len(m)]) % 17 - 8
            out[0, c] = (4 * (centre + d) + r).astype(np.float32) / np.float32(1020)
        return out
    return patch_fn


# ---- sections ----

def _tile_row(tile: tiling.Tile) -> list[int]:
    return [tile.y, tile.x, tile.own_y0, tile.own_y1, tile.own_x0, tile.own_x1]


def plan_case(t: TilingConfig, h: int, w: int) -> dict:
    return {"name": f"{h}x{w}_p{t.patch}_h{t.halo}_a{t.align}_x{t.scale}", "tiling": t.to_dict(),
            "height": h, "width": w, "canvas": [tiling.canvas_size(h, t), tiling.canvas_size(w, t)],
            "input_size": t.input_size, "output_size": t.output_size,
            "tiles": [_tile_row(tile) for tile in tiling.plan_tiles(h, w, t)]}


def plans() -> list[dict]:
    cases = [plan_case(t, h, w) for t in PLAN_CONFIGS for h, w in SMALL_SIZES]
    return cases + [plan_case(PLAN_CONFIGS[0], h, w) for h, w in LARGE_SIZES]


def invalid_tilings() -> list[dict]:
    """Configs and images the Python implementation refuses, with the kind of refusal."""
    candidates = [("patch_not_multiple_of_align", dict(scale=4, patch=63, halo=8, align=2, thumb=64), 10, 10),
                  ("patch_zero", dict(scale=4, patch=0, halo=8, align=2, thumb=64), 10, 10),
                  ("halo_not_multiple_of_align", dict(scale=4, patch=64, halo=5, align=2, thumb=64), 10, 10),
                  ("halo_negative", dict(scale=4, patch=64, halo=-2, align=2, thumb=64), 10, 10),
                  ("patch_not_multiple_of_align4", dict(scale=4, patch=18, halo=4, align=4, thumb=8), 10, 10),
                  ("empty_height", dict(scale=4, patch=16, halo=4, align=2, thumb=8), 0, 5),
                  ("empty_width", dict(scale=4, patch=16, halo=4, align=2, thumb=8), 5, 0)]
    cases = []
    for name, cfg, h, w in candidates:
        try:
            t = TilingConfig(**cfg)
        except ValueError:
            error = "config"
        else:
            try:
                tiling.plan_tiles(h, w, t)
            except ValueError:
                error = "empty_image"
            else:
                raise AssertionError(f"{name}: Python accepts it")
        cases.append({"name": name, "tiling": cfg, "height": h, "width": w, "error": error})
    return cases


def patches() -> list[dict]:
    t = TilingConfig(4, 16, 4, 2, 8)
    cases = []
    for h, w, seed in [(5, 7, 11), (37, 45, 12)]:
        image = sample_image(h, w, seed)
        for tile in tiling.plan_tiles(h, w, t)[::3]:
            cases.append({"name": f"{h}x{w}_tile_{tile.y}_{tile.x}", "tiling": t.to_dict(), "height": h,
                          "width": w, "image_b64": _b64(image), "tile": _tile_row(tile),
                          "patch_b64": _b64(tiling.extract_patch(image, tile, t))})
    return cases


def thumbnails() -> list[dict]:
    cases = []
    for i, (h, w, thumb) in enumerate([(1, 1, 4), (3, 5, 4), (7, 4, 8), (20, 33, 8), (40, 70, 16), (32, 32, 16)]):
        image = sample_image(h, w, 100 + i)
        values = tiling.make_thumbnail(image, TilingConfig(4, 16, 4, 2, thumb))
        cases.append({"name": f"{h}x{w}_t{thumb}", "height": h, "width": w, "image_b64": _b64(image),
                      "thumb": thumb, "values": [_f32(v) for v in values.reshape(-1)]})
    return cases


def normalization() -> dict:
    to_input = tiling.to_model_input(np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2))[0, 0, 0]
    probes = np.array([-1.0, -1e-7, 0.0, 1e-9, 0.5 / 255, np.nextafter(np.float32(0.5 / 255), np.float32(1)),
                       np.nextafter(np.float32(0.5 / 255), np.float32(0)), 0.5, 127.5 / 255, 128.5 / 255,
                       0.25, 0.75, 0.999, 254.5 / 255, 1.0, 1.0000001, 2.0, 1e30, -1e30], dtype=np.float32)
    to_u8 = tiling.to_uint8(probes.reshape(1, 1, -1).repeat(3, axis=0))[0, :, 0]
    return {"to_model_input": [[i, _f32(v)] for i, v in enumerate(to_input)],
            "to_uint8": [[_f32(v), int(b)] for v, b in zip(probes, to_u8)]}


def int8_cases() -> list[dict]:
    from targets.tflite.runtime import dequantize, quantize  # numpy only: no LiteRT import
    cases = []
    for name, scale, zp in [("pow2_scale_zp0", 0.5, 0), ("pow2_scale_zp_minus128", 1 / 64, -128),
                            ("unit_interval_zp_minus128", 1 / 255, -128), ("odd_scale_zp5", 0.0371, 5),
                            ("tiny_scale_zp_minus3", 0.0009765625 * 3, -3)]:
        detail = {"dtype": np.int8, "quantization": (_f32(scale), zp)}
        s = np.float32(scale)
        xs = np.concatenate([np.arange(-6, 7, dtype=np.float32) * s / 2,  # exact halves of the scale
                             np.array([0.0, 1.0, -1.0, 0.3, 0.7, 1e6, -1e6, 200 * s, -200 * s,
                                       (127 - zp + 0.5) * s, (-128 - zp - 0.5) * s], dtype=np.float32),
                             np.linspace(-3, 3, 13, dtype=np.float32) * np.float32(37) * s / 7])
        qs = quantize(xs, detail)
        q_in = np.array([-128, -127, -1, 0, 1, 5, 63, 126, 127], dtype=np.int8)
        ys = dequantize(q_in, detail)
        cases.append({"name": name, "scale": _f32(scale), "zero_point": zp, "dtype": "int8",
                      "quantize": [[_f32(x), int(q)] for x, q in zip(xs, qs)],
                      "dequantize": [[int(q), _f32(y)] for q, y in zip(q_in, ys)]})
    return cases


# The shipped tiling (every exported artifact's manifest says this; tests/conformance/README.md):
# full upscales at 64 / 8 are too large to store, so only their SHA-256 is kept.
SHIPPED = TilingConfig(scale=4, patch=64, halo=8, align=2, thumb=64)
SHIPPED_UPSCALES = [("70x50_x4_shipped", 50, 70, [3, 5, 7]), ("130x90_x4_shipped", 90, 130, [2, 9, 4, 1])]
REAL_MANIFEST = Path("tests/conformance/real/mossnet_xs_x4_int8-ptq.pte.manifest.json")


def shipped_upscales() -> list[dict]:
    cases = []
    for i, (name, h, w, modulation) in enumerate(SHIPPED_UPSCALES):
        image = sample_image(h, w, 300 + i)
        out = tiling.upscale_tiled(image, fake_context_model(modulation, SHIPPED), fake_patch_model(SHIPPED), SHIPPED)
        cases.append({"name": name, "tiling": SHIPPED.to_dict(), "height": h, "width": w, "image_b64": _b64(image),
                      "modulation": modulation, "tiles": len(tiling.plan_tiles(h, w, SHIPPED)),
                      "output_sha256": hashlib.sha256(out.tobytes()).hexdigest()})
    return cases


def _stored_rgba(h: int, w: int, seed: int, opaque: bool) -> np.ndarray:
    from targets.selftest import alpha_pattern
    alpha = np.full((h, w), 255, np.uint8) if opaque else alpha_pattern(h, w)
    return np.dstack([sample_image(h, w, seed), alpha])


def orientations() -> list[dict]:
    """EXIF orientations 1-8 as the Python reader applies them (Pillow's exif_transpose via
    ``load_image``): stored RGBA pixels in, upright RGBA out."""
    from PIL import Image
    from mossnet.core.image_io import load_image
    stored = _stored_rgba(3, 5, 400, opaque=False)
    cases = []
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "photo.png"
            Image.fromarray(stored, "RGBA").save(path, exif=exif.tobytes())
            loaded = load_image(path)
        upright = np.dstack([loaded.rgb, loaded.alpha])
        cases.append({"name": f"orientation_{o}", "orientation": o, "height": 3, "width": 5,
                      "rgba_b64": _b64(stored), "out_height": int(upright.shape[0]),
                      "out_width": int(upright.shape[1]), "expected_rgba_b64": _b64(upright)})
    return cases


def alpha_resizes() -> list[dict]:
    """``mossnet.core.image_io.resize_alpha`` (Pillow's bicubic, a = -0.5) on small alphas."""
    from mossnet.core.image_io import resize_alpha
    cases = []
    for i, (h, w, s) in enumerate([(1, 1, 4), (1, 5, 4), (3, 5, 4), (7, 4, 2), (9, 13, 4), (6, 6, 3), (16, 11, 4)]):
        alpha = sample_image(h, w, 500 + i)[..., 0]
        alpha[0, 0], alpha[-1, -1] = 0, 255  # the extremes, where clamping shows
        out = resize_alpha(alpha, s)
        cases.append({"name": f"{h}x{w}_x{s}", "height": h, "width": w, "scale": s, "alpha_b64": _b64(alpha),
                      "expected_b64": _b64(out)})
    return cases


def photos() -> list[dict]:
    """Whole photos at the shipped tiling as the Python CLI reads them: stored RGBA with an EXIF
    orientation -> upright, RGB through the tiled (fake) model, alpha through ``resize_alpha``;
    an alpha that is opaque everywhere is dropped (output alpha 255)."""
    from targets.selftest import python_photo
    cases = []
    for i, (name, h, w, o, opaque, modulation) in enumerate([
            ("90x70_exif6_alpha", 90, 70, 6, False, [4, 2, 8]),
            ("44x60_exif3_opaque", 44, 60, 3, True, [1, 6]),
            ("35x47_exif8_alpha", 35, 47, 8, False, [7])]):
        stored = _stored_rgba(h, w, 600 + i, opaque)
        out = python_photo(stored, o, fake_context_model(modulation, SHIPPED), fake_patch_model(SHIPPED), SHIPPED)
        up_h, up_w = (w, h) if o >= 5 else (h, w)
        cases.append({"name": name, "tiling": SHIPPED.to_dict(), "height": h, "width": w, "orientation": o,
                      "rgba_b64": _b64(stored), "modulation": modulation,
                      "tiles": len(tiling.plan_tiles(up_h, up_w, SHIPPED)),
                      "out_height": int(out.shape[0]), "out_width": int(out.shape[1]),
                      "rgb_sha256": hashlib.sha256(np.ascontiguousarray(out[..., :3]).tobytes()).hexdigest(),
                      "alpha_sha256": hashlib.sha256(np.ascontiguousarray(out[..., 3]).tobytes()).hexdigest()})
    return cases


def upscales() -> list[dict]:
    cases = []
    for i, (name, t, h, w, modulation) in enumerate(UPSCALE_CASES):
        image = sample_image(h, w, 200 + i)
        out = tiling.upscale_tiled(image, fake_context_model(modulation, t), fake_patch_model(t), t)
        cases.append({"name": name, "tiling": t.to_dict(), "height": h, "width": w, "image_b64": _b64(image),
                      "modulation": modulation, "tiles": len(tiling.plan_tiles(h, w, t)),
                      "output_b64": _b64(out), "output_sha256": hashlib.sha256(out.tobytes()).hexdigest()})
    return cases


# ---- manifests: built with targets.manifest, refusals confirmed by its loader ----

STAND_IN_CHECKPOINT = hashlib.sha256(b"conformance stand-in checkpoint").hexdigest()


def _folder_files(root: Path) -> list[dict]:
    """A folder artifact's files, deliberately *not* in hashing order: ports must sort."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    return [{"path": p.relative_to(root).as_posix(), "b64": _b64(p.read_bytes())} for p in reversed(files)]


def _write_artifact(folder: Path, name: str, artifact: dict) -> Path:
    path = folder / name
    if artifact["kind"] == "file":
        path.write_bytes(base64.b64decode(artifact["b64"]))
    else:
        for f in artifact["files"]:
            (path / f["path"]).parent.mkdir(parents=True, exist_ok=True)
            (path / f["path"]).write_bytes(base64.b64decode(f["b64"]))
    return path


def _refusal_of(exc: Exception) -> str:
    """The refusal kind of a Python loader error (docs/conformance.md, manifests)."""
    from targets.manifest import ManifestError
    if not isinstance(exc, ManifestError):
        return "tiling"  # TilingConfig(**manifest["tiling"]) raised ValueError
    msg = str(exc)
    for needle, kind in [("not valid JSON", "json"), ("manifest schema", "schema"), ("artifact, not", "runtime"),
                         ("unsupported precision", "precision"), ("model, expected", "scale"), ("SHA-256", "sha256")]:
        if needle in msg:
            return kind
    raise AssertionError(f"unclassified manifest error: {msg}")


def _python_load(text: str, artifact: dict, file_name: str, runtime: str, scale: int | None):
    """Load a manifest case with the real Python loader; returns (manifest, None) or (None, kind)."""
    from targets.manifest import ManifestError, load_manifest, manifest_path, tiling_of
    with tempfile.TemporaryDirectory() as tmp:
        path = _write_artifact(Path(tmp), file_name, artifact)
        manifest_path(path).write_text(text)
        try:
            m = load_manifest(path, runtime, _precisions()[runtime], scale)
            tiling_of(m)
            return m, None
        except (ManifestError, ValueError, TypeError) as exc:
            return None, _refusal_of(exc)


def _precisions() -> dict[str, list[str]]:
    """Every exporting runtime's precisions, from the registry."""
    from targets import registry
    return {rt.name: [p.name for p in rt.precisions] for rt in registry.exporters()}


def manifests() -> dict:
    from mossnet.core.arch import make_config
    from targets.manifest import SCHEMA, SCHEMA_VERSION, build_manifest, manifest_path, write_manifest
    modulation_dim = make_config("xs").modulation_dim
    # as LiteRT's int8 model declares it: int8 pixels in and out, the float context program and
    # the float modulation (quantize.recipe) as float32 with LiteRT's scale 0
    f32 = {"dtype": "float32", "scale": 0.0, "zero_point": 0}
    io_int8 = {"context": {"args_0": f32, "output_0": f32},
               "upscale_patch": {"args_0": {"dtype": "int8", "scale": _f32(1 / 255), "zero_point": -128},
                                 "args_1": f32,
                                 "output_0": {"dtype": "int8", "scale": _f32(0.00427), "zero_point": -121}}}
    specs = [  # name, runtime, precision, suffix, tiling, folder?, toolkit, io_quantization, files
        ("executorch_int8_ptq", "executorch", "int8-ptq", ".pte", TilingConfig(4, 64, 8, 2, 64), False,
         {"executorch": "1.5.1", "backend": "XNNPACK"}, None,
         {"context": "method context", "upscale_patch": "method upscale_patch"}),
        ("executorch_fp32_x2", "executorch", "fp32", ".pte", TilingConfig(2, 64, 8, 2, 64), False,
         {"executorch": "1.5.1", "backend": "XNNPACK"}, None,
         {"context": "method context", "upscale_patch": "method upscale_patch"}),
        ("tflite_int8", "tflite", "int8", ".tflite", TilingConfig(4, 64, 8, 2, 64), False,
         {"litert-torch": "0.10.0", "ai-edge-litert": "2.3.0"}, io_int8,
         {"context": "signature context", "upscale_patch": "signature upscale_patch"}),
        ("coreml_fp16", "coreml", "fp16", ".coreml", TilingConfig(4, 64, 8, 2, 64), True,
         {"coremltools": "9.0", "format": "mlprogram", "minimum_deployment_target": "iOS17"}, None,
         {"context": "context.mlpackage", "upscale_patch": "upscale_patch.mlpackage"}),
    ]
    built = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, runtime, precision, suffix, t, folder, toolkit, io_q, files in specs:
            path = Path(tmp) / f"mossnet_xs_x{t.scale}_{precision}{suffix}"
            if folder:  # names chosen so that component-wise and string sorting differ
                for rel in ["context.mlpackage/Manifest.json", "context.mlpackage/Data/weight.bin",
                            "context.mlpackage-notes/a", "context.mlpackage.txt",
                            "upscale_patch.mlpackage/Manifest.json"]:
                    (path / rel).parent.mkdir(parents=True, exist_ok=True)
                    (path / rel).write_bytes(f"conformance stand-in: {rel}\n".encode())
                artifact = {"kind": "folder", "files": _folder_files(path)}
            else:
                path.write_bytes(f"conformance stand-in for a {runtime} {precision} program\n".encode())
                artifact = {"kind": "file", "b64": _b64(path.read_bytes())}
            manifest = build_manifest(runtime=runtime, precision=precision, artifact=path, arch="mossnet-xs",
                                      checkpoint_sha256=STAND_IN_CHECKPOINT, tiling=t,
                                      modulation_dim=modulation_dim, toolkit=toolkit,
                                      parity={"reference": "conformance stand-in", "output_psnr_db": 99.0},
                                      io_quantization=io_q, files=files)
            write_manifest(path, manifest)
            built[name] = (path.name, manifest_path(path).read_text(), artifact)

    valid = []
    for name, expect in [("executorch_int8_ptq", ("executorch", 4)), ("executorch_fp32_x2", ("executorch", None)),
                         ("tflite_int8", ("tflite", 4)), ("coreml_fp16", ("coreml", 4))]:
        file_name, text, artifact = built[name]
        m, refusal = _python_load(text, artifact, file_name, *expect)
        assert refusal is None, (name, refusal)
        valid.append({"name": name, "expect": {"runtime": expect[0], "scale": expect[1]}, "manifest_text": text,
                      "artifact": artifact, "file_name": file_name,
                      "loaded": {"runtime": m["runtime"], "precision": m["precision"], "scale": m["model"]["scale"],
                                 "tiling": m["tiling"], "artifact_sha256": m["artifact"]["sha256"],
                                 "io_quantization": m["io_quantization"]},
                      "programs": {p: {k: [[t["name"], t["shape"]] for t in sig[k]] for k in ("inputs", "outputs")}
                                   for p, sig in m["programs"].items()}})

    def edited(base: str, edit) -> tuple[str, dict, str]:
        file_name, text, artifact = built[base]
        m = json.loads(text)
        edit(m)
        return json.dumps(m, indent=1) + "\n", artifact, file_name

    def set_path(keys: list, value):
        def edit(m):
            d = m
            for k in keys[:-1]:
                d = d[k]
            d[keys[-1]] = value
        return edit

    et_file, et_text, et_artifact = built["executorch_int8_ptq"]
    tampered = {"kind": "file", "b64": _b64(base64.b64decode(et_artifact["b64"]) + b"!")}
    cf_file, cf_text, cf_artifact = built["coreml_fp16"]
    cf_tampered = {"kind": "folder", "files": [dict(f, b64=_b64(b"tampered")) if i == 0 else f
                                               for i, f in enumerate(cf_artifact["files"])]}
    invalid_specs = [
        ("not_json", "executorch", 4, (et_text[: len(et_text) // 2], et_artifact, et_file), "json"),
        ("wrong_schema_name", "executorch", 4, edited("executorch_int8_ptq", set_path(["schema"], "mossnet-manifest")), "schema"),
        ("schema_version_2", "executorch", 4, edited("executorch_int8_ptq", set_path(["schema_version"], 2)), "schema"),
        ("schema_version_string", "executorch", 4, edited("executorch_int8_ptq", set_path(["schema_version"], "1")), "schema"),
        ("tflite_artifact_for_executorch", "executorch", 4, edited("tflite_int8", lambda m: None), "runtime"),
        ("coreml_precision_for_executorch", "executorch", 4, edited("executorch_int8_ptq", set_path(["precision"], "fp16")), "precision"),
        ("unknown_precision", "tflite", 4, edited("tflite_int8", set_path(["precision"], "int4")), "precision"),
        ("x2_model_expected_x4", "executorch", 4, edited("executorch_fp32_x2", lambda m: None), "scale"),
        ("artifact_modified", "executorch", 4, (et_text, tampered, et_file), "sha256"),
        ("folder_artifact_modified", "coreml", 4, (cf_text, cf_tampered, cf_file), "sha256"),
        ("tiling_halo_not_aligned", "executorch", 4, edited("executorch_int8_ptq", set_path(["tiling", "halo"], 5)), "tiling"),
        ("tiling_patch_not_aligned", "executorch", 4, edited("executorch_int8_ptq", set_path(["tiling", "patch"], 63)), "tiling"),
    ]
    invalid = []
    for name, runtime, scale, (text, artifact, file_name), refusal in invalid_specs:
        _, got = _python_load(text, artifact, file_name, runtime, scale)
        assert got == refusal, f"{name}: Python refuses it as {got!r}, not {refusal!r}"
        invalid.append({"name": name, "expect": {"runtime": runtime, "scale": scale}, "manifest_text": text,
                        "artifact": artifact, "file_name": file_name, "refusal": refusal})
    return {"schema": {"name": SCHEMA, "version": SCHEMA_VERSION,
                       "precisions": _precisions()},
            "valid": valid, "invalid": invalid}


def real_manifests() -> list[dict]:
    """A manifest as ``python -m targets.executorch export`` wrote it (copied into the repo by
    ``--real-manifest``), checked by the Python loader's field, tiling and program checks (its
    artifact is not in the repo: the cores are given the hash it records)."""
    from targets.manifest import read_manifest
    from targets.validate import check_fields, check_programs, tiling_of
    text = REAL_MANIFEST.read_text()
    m = read_manifest(REAL_MANIFEST)
    check_fields(m, REAL_MANIFEST)
    t = tiling_of(m, REAL_MANIFEST)
    check_programs(m, t, REAL_MANIFEST)
    assert t == SHIPPED, f"{REAL_MANIFEST}: tiling {t} is not the shipped {SHIPPED}"
    return [{"name": REAL_MANIFEST.name, "expect": {"runtime": m["runtime"], "scale": m["model"]["scale"]},
             "manifest_text": text, "artifact_sha256": m["artifact"]["sha256"],
             "loaded": {"runtime": m["runtime"], "precision": m["precision"], "scale": m["model"]["scale"],
                        "tiling": m["tiling"], "artifact_sha256": m["artifact"]["sha256"],
                        "bound_db": m["parity"]["bound_db"], "toolkit": m["toolkit"],
                        "selftest": m.get("selftest")}}]


def selftest_fixture() -> dict:
    """A self-test file (targets.selftest, the format the exporters write beside every artifact)
    built with the fake models instead of a real reference, with a stand-in artifact and its
    manifest: the cores run it with the fake runner (every case passes at the 200 dB cap) and
    with a perturbed one (every case fails)."""
    from mossnet.core.arch import make_config
    from targets.manifest import build_manifest, manifest_path, write_manifest
    from targets.selftest import build_selftest, dumps, write_selftest
    t = TilingConfig(4, 16, 4, 2, make_config("xs").thumb_size)
    modulation = [5, 3, 9]
    images = [("sample 40x40 seed 700", sample_image(40, 40, 700)), ("sample 30x50 seed 701", sample_image(30, 50, 701))]
    with tempfile.TemporaryDirectory() as tmp:
        artifact = Path(tmp) / "mossnet_xs_x4_int8-ptq.pte"
        artifact.write_bytes(b"conformance stand-in for the self-test's artifact\n")
        doc = build_selftest((fake_context_model(modulation, t), fake_patch_model(t)), t,
                             hashlib.sha256(artifact.read_bytes()).hexdigest(), "conformance fake model", images,
                             tiles=2, photo_size=(14, 20))
        entry = write_selftest(artifact, doc)
        manifest = build_manifest(runtime="executorch", precision="int8-ptq", artifact=artifact, arch="mossnet-xs",
                                  checkpoint_sha256=STAND_IN_CHECKPOINT, tiling=t,
                                  modulation_dim=len(modulation), toolkit={"executorch": "1.5.1"},
                                  parity={"reference": "conformance fake model", "output_psnr_db": 200.0,
                                          "bound_db": 45.0}, selftest=entry)
        write_manifest(artifact, manifest)
        return {"artifact": {"kind": "file", "b64": _b64(artifact.read_bytes())}, "file_name": artifact.name,
                "manifest_text": manifest_path(artifact).read_text(), "modulation": modulation,
                "selftest_text": dumps(doc).decode(), "selftest_sha256": entry["sha256"],
                "cases": 2 + len(doc["tiles"]), "cap_db": 200.0, "bound_db": 45.0}


def build_vectors() -> dict:
    m = manifests()
    return {"format": FORMAT, "format_version": FORMAT_VERSION,
            "generator": "python -m mossnet.tools.conformance", "spec": "docs/conformance.md",
            "tolerances": {"thumbnail_abs": THUMB_TOLERANCE},
            "schema": m["schema"],
            "plans": plans(), "invalid_tilings": invalid_tilings(), "patches": patches(),
            "thumbnails": thumbnails(), "normalization": normalization(), "int8": int8_cases(),
            "upscales": upscales(), "manifests": {"valid": m["valid"], "invalid": m["invalid"]},
            "shipped_upscales": shipped_upscales(), "orientations": orientations(),
            "alpha_resizes": alpha_resizes(), "photos": photos(), "real_manifests": real_manifests(),
            "selftest": selftest_fixture()}


def dumps(vectors: dict) -> str:
    """The file's exact text: one case per line, so that a changed case is a one-line diff."""
    def compact(v) -> str:
        return json.dumps(v, separators=(",", ":"))

    def block(v, indent: str) -> str:
        if isinstance(v, list) and v and isinstance(v[0], (dict, list)):
            return "[\n" + ",\n".join(indent + " " + compact(x) for x in v) + "\n" + indent + "]"
        if isinstance(v, dict) and any(isinstance(x, list) and x and isinstance(x[0], dict) for x in v.values()):
            return "{\n" + ",\n".join(f"{indent} {compact(k)}: {block(x, indent + ' ')}" for k, x in v.items()) \
                + "\n" + indent + "}"
        return compact(v)
    return "{\n" + ",\n".join(f" {compact(k)}: {block(v, ' ')}" for k, v in vectors.items()) + "\n}\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mossnet.tools.conformance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"output JSON (default {DEFAULT_OUT})")
    p.add_argument("--real-manifest", metavar="ARTIFACT",
                   help=f"first copy ARTIFACT's manifest (checked against it) to {REAL_MANIFEST}")
    args = p.parse_args(argv)
    if args.real_manifest:
        from targets.manifest import load_manifest, manifest_path
        from targets.registry import runtime_of
        rt = runtime_of(args.real_manifest)
        load_manifest(args.real_manifest, rt.name, [q.name for q in rt.precisions])
        REAL_MANIFEST.parent.mkdir(parents=True, exist_ok=True)
        REAL_MANIFEST.write_text(manifest_path(args.real_manifest).read_text())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(build_vectors())
    atomic_write(out, lambda tmp: Path(tmp).write_text(text))
    print(f"wrote {out} ({len(text.encode()) / 1024:.0f} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
