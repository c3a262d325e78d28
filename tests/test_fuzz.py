"""Property-based fuzzing of the four loaders a user can hand files to: the image reader, the
artifact manifest, the quantized pipeline folder and the checkpoint. Whatever the bytes, the
only exception that may escape is the project's own ``UserError`` (one line, exit 2).

Bounded in time: a fixed number of examples each, no per-example deadline (the machine is
shared), derandomized so that CI runs the same cases."""
import io
import json
import shutil
import string

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mossnet.core.arch import make_config
from mossnet.core.checkpoint import load_model, save_checkpoint
from mossnet.core.errors import UserError
from mossnet.core.image_io import load_image
from mossnet.core.tiling import TilingConfig

from conftest import random_model

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    b = bytearray(data)
    for pos, value in edits:
        if b:
            b[pos % len(b)] = value
    return bytes(b[:cut] if cut is not None else b)


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8))
    if fmt == "GIF":
        im.save(buf, format="GIF", save_all=True, append_images=[im.rotate(90)])
    else:
        im.save(buf, format=fmt)
    return buf.getvalue()


IMAGES = {fmt: _encoded(fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")}


@FUZZ
@given(fmt=st.sampled_from(sorted(IMAGES)), edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)),
                                                          max_size=8),
       cut=st.none() | st.integers(0, 400))
def test_image_reader_only_raises_user_errors(fmt, edits, cut, tmp_path):
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(mutate(IMAGES[fmt], edits, cut))
    try:
        loaded = load_image(path)
    except UserError:
        return
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 10 ** 6)))
def test_streamed_png_reader_only_raises_user_errors(edits, cut, tmp_path, monkeypatch):
    """The band-at-a-time PNG reader (``load_image(stream=True)``) finds bad data only as its
    rows are read: that must be a ``UserError`` too, and the rows it gives must be whole."""
    import mossnet.core.image_io as image_io
    monkeypatch.setattr(image_io, "STREAM_PIXELS", 1)
    path = tmp_path / "x.png"
    path.write_bytes(mutate(IMAGES["PNG"], edits, cut))
    try:
        loaded = load_image(path, stream=True)
        rgb = loaded.rgb if isinstance(loaded.rgb, np.ndarray) else loaded.rgb.window().rows(0, loaded.rgb.shape[0])
    except UserError:
        return
    assert rgb.dtype == np.uint8 and rgb.shape == loaded.rgb.shape


@FUZZ
@given(data=st.binary(max_size=300))
def test_image_reader_on_arbitrary_bytes(data, tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    try:
        load_image(path)
    except UserError:
        pass


# -- manifests -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """A stand-in .pte (bytes) with a valid manifest: the manifest loader never runs the program."""
    from targets.manifest import build_manifest, write_manifest
    folder = tmp_path_factory.mktemp("stand_in")
    artifact = folder / "mossnet_xs_x4_fp32.pte"
    artifact.write_bytes(b"stand-in")
    manifest = build_manifest(runtime="executorch", precision="fp32", artifact=artifact, arch="mossnet-xs",
                              checkpoint_sha256="0" * 64, tiling=TilingConfig(4, 64, 8, 2, 64),
                              modulation_dim=make_config("xs").modulation_dim, toolkit={},
                              parity={"reference": "stand-in", "output_psnr_db": 99.0})
    write_manifest(artifact, manifest)
    return artifact, manifest


def _paths(d, prefix=()):
    """Every key path of a nested dict/list."""
    out = [prefix]
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, prefix + (i,))
    return out


def _set_path(d, path, value):
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


def load(artifact):
    from targets.manifest import load_manifest, tiling_of
    m = load_manifest(artifact, "executorch", ["fp32", "int8-ptq"])
    tiling_of(m)
    return m


def test_stand_in_manifest_loads(stand_in):
    assert load(stand_in[0])["tiling"]["patch"] == 64


@FUZZ
@given(index=st.integers(0, 10 ** 6), value=json_values, delete=st.booleans())
def test_manifest_loader_only_raises_user_errors(stand_in, index, value, delete):
    """One field of a valid manifest replaced by any JSON value (or deleted)."""
    from targets.manifest import manifest_path
    artifact, manifest = stand_in
    m = json.loads(json.dumps(manifest))
    paths = [p for p in _paths(m) if p]
    path = paths[index % len(paths)]
    if delete and isinstance(path[-1], str):
        parent = m
        for k in path[:-1]:
            parent = parent[k]
        del parent[path[-1]]
    else:
        _set_path(m, path, value)
    manifest_path(artifact).write_text(json.dumps(m))
    try:
        load(artifact)
    except UserError:
        pass
    finally:
        manifest_path(artifact).write_text(json.dumps(manifest))


@FUZZ
@given(data=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_manifest_loader_on_arbitrary_files(stand_in, data):
    from targets.manifest import manifest_path
    artifact, manifest = stand_in
    manifest_path(artifact).write_bytes(data)
    try:
        load(artifact)
    except UserError:
        pass
    finally:
        manifest_path(artifact).write_text(json.dumps(manifest))


# -- quantized pipeline folders --------------------------------------------------------------
@pytest.fixture(scope="module")
def pipeline_copy(quantized, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pipe") / "q"
    shutil.copytree(quantized, folder)
    return folder, (folder / "quant.json").read_text()


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(index=st.integers(0, 10 ** 6), value=json_values | st.integers(-3, 300), raw=st.none() | st.binary(max_size=64))
def test_quantized_folder_loader_only_raises_user_errors(pipeline_copy, index, value, raw):
    from quantize.program import load_pipeline
    folder, text = pipeline_copy
    meta = json.loads(text)
    # the loader-relevant part: everything but the (long, informational) report
    paths = [p for p in _paths({k: meta[k] for k in ("format_version", "method", "program_sha256", "tiling",
                                                      "model_config", "checkpoint_sha256")}) if p]
    _set_path(meta, paths[index % len(paths)], value)
    (folder / "quant.json").write_bytes(raw if raw is not None else json.dumps(meta).encode())
    try:
        load_pipeline(folder)
    except UserError:
        pass
    finally:
        (folder / "quant.json").write_text(text)


# -- checkpoints -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint_payload(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "m.pt"
    save_checkpoint(path, random_model("xs"))
    return torch.load(path, weights_only=True)


tensors = st.sampled_from([torch.zeros(3), torch.full((2, 2), float("nan")), torch.ones(1, dtype=torch.int32),
                           torch.zeros(24, 3, 3, 3), torch.tensor(float("inf"))])
plain = st.none() | st.booleans() | st.integers(-5, 70) | st.text(string.ascii_letters + "-", max_size=12)
values = st.recursive(plain | tensors, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c,
                                                                                              max_size=3), max_leaves=8)


@FUZZ
@given(key=st.sampled_from(["arch", "scale", "config", "state_dict", "metrics", "config.channels",
                            "config.enc_blocks", "config.scale", "config.thumb_size", "config.context",
                            "config.variant", "config.ctx_channels", "state_dict.upscaler.head.weight"]),
       value=values)
def test_checkpoint_loader_only_raises_user_errors(checkpoint_payload, key, value, tmp_path):
    payload = {k: (dict(v) if isinstance(v, dict) else v) for k, v in checkpoint_payload.items()}
    top, _, rest = key.partition(".")
    if rest:
        payload[top][rest] = value
    else:
        payload[top] = value
    path = tmp_path / "c.pt"
    torch.save(payload, path)
    try:
        load_model(path)
    except UserError:
        pass


@FUZZ
@given(data=st.binary(max_size=300))
def test_checkpoint_loader_on_arbitrary_bytes(data, tmp_path):
    path = tmp_path / "c.pt"
    path.write_bytes(data)
    try:
        load_model(path)
    except UserError:
        pass
