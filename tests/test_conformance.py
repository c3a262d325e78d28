"""The committed conformance vectors are what the Python implementation produces today, and
they are sharp enough to catch a changed tiling rule (docs/conformance.md)."""
import base64
import json
from pathlib import Path

import numpy as np
import pytest

from mossnet.core import tiling
from mossnet.tools import conformance

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "conformance" / "vectors.json"


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(VECTORS.read_text())


@pytest.fixture(scope="module")
def fresh() -> dict:
    return conformance.build_vectors()


def _image(case: dict, key: str, h: int, w: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(case[key]), dtype=np.uint8).reshape(h, w, 3)


def test_committed_vectors_equal_a_fresh_regeneration(fresh):
    text = conformance.dumps(fresh)
    assert text == VECTORS.read_text(), "vectors are stale: run `.venv/bin/python -m mossnet.tools.conformance`"
    assert len(text.encode()) < 800_000  # small enough to commit and to load in every test run


def test_cli_writes_the_same_file(tmp_path):
    out = tmp_path / "v.json"
    assert conformance.main(["--out", str(out)]) == 0
    assert out.read_text() == VECTORS.read_text()


def test_fake_model_bytes_match_the_closed_form_on_a_single_tile(committed):
    """Independent of the tiling code: one tile at (0, 0), so the window is the clamped image."""
    case = next(c for c in committed["upscales"] if c["name"] == "5x7_x4")
    t, h, w = case["tiling"], case["height"], case["width"]
    s, halo, m = t["scale"], t["halo"], case["modulation"]
    image = _image(case, "image_b64", h, w).astype(int)
    out = _image(case, "output_b64", h * s, w * s)
    for Y in range(h * s):
        for X in range(w * s):
            u, v, a, b = Y // s, X // s, Y % s, X % s
            px = lambda dy, dx, c: image[min(max(u + dy, 0), h - 1), min(max(v + dx, 0), w - 1), c]  # noqa: E731
            for c in range(3):
                d = (px(-halo, -halo, (c + 1) % 3) + 2 * px(halo, halo, (c + 2) % 3)
                     + 3 * a + 5 * b + 7 * u + 11 * v + m[c % len(m)]) % 17 - 8
                r = [0, 1, 3][(u + v + a + b) % 3]
                assert out[Y, X, c] == min(max(px(0, 0, c) + d + (r == 3), 0), 255), (Y, X, c)


def test_a_pixel_of_the_flush_last_tile_by_hand(committed):
    """29x37, patch 16, align 2: canvas 30x38, row starts 0, 14; column starts 0, 16, 22. The
    bottom-right pixel (28, 36) belongs to the tile at (14, 22): core offset (14, 14)."""
    case = next(c for c in committed["upscales"] if c["name"] == "29x37_x4")
    h, w, s, halo, m = 29, 37, 4, 4, case["modulation"]
    image = _image(case, "image_b64", h, w).astype(int)
    out = _image(case, "output_b64", h * s, w * s)
    u, v = 14, 14  # core coordinates inside the tile at (14, 22)
    for a in range(s):
        for b in range(s):
            for c in range(3):
                px = lambda dy, dx, ch: image[min(28 + dy, h - 1), min(36 + dx, w - 1), ch]  # noqa: E731
                d = (px(-halo, -halo, (c + 1) % 3) + 2 * px(halo, halo, (c + 2) % 3)
                     + 3 * a + 5 * b + 7 * u + 11 * v + m[c % len(m)]) % 17 - 8
                r = [0, 1, 3][(u + v + a + b) % 3]
                assert out[28 * s + a, 36 * s + b, c] == min(max(px(0, 0, c) + d + (r == 3), 0), 255)


def test_a_changed_tiling_rule_changes_the_vectors(monkeypatch, fresh):
    """Start the last tile at the next patch multiple instead of flush with the canvas end (a
    plausible port bug): the plans and the stitched outputs must both differ."""
    def unflushed_starts(side, t):
        canvas = tiling.canvas_size(side, t)
        return list(range(0, canvas, t.patch))
    monkeypatch.setattr(tiling, "axis_starts", unflushed_starts)
    assert conformance.plans() != fresh["plans"]
    assert conformance.upscales() != fresh["upscales"]


def test_truncating_instead_of_rounding_changes_every_multi_pixel_upscale(monkeypatch, fresh):
    monkeypatch.setattr(tiling, "to_uint8", lambda o, **_: np.floor(np.clip(o, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0))
    changed = [a["output_sha256"] != b["output_sha256"] for a, b in zip(conformance.upscales(), fresh["upscales"])]
    assert all(changed)
