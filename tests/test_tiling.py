"""The tiling plan: every output pixel owned exactly once, and tiled == whole-image output."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mossnet.core.pipeline import (
    model_tiling,
    receptive_field_radius,
    upscale_whole,
    upscale_with_model,
)
from mossnet.core.tiling import TilingConfig, make_thumbnail, plan_tiles

from conftest import random_model


@settings(max_examples=300, deadline=None)
@given(h=st.integers(1, 700), w=st.integers(1, 700), patch=st.sampled_from([2, 8, 32, 64, 96]),
       halo=st.sampled_from([0, 2, 8]))
def test_tiles_cover_every_pixel_exactly_once(h, w, patch, halo):
    t = TilingConfig(scale=4, patch=patch, halo=halo, align=2, thumb=64)
    count = np.zeros((h, w), dtype=np.int32)
    for tile in plan_tiles(h, w, t):
        assert tile.y % t.align == 0 and tile.x % t.align == 0
        # the owned region lies inside the tile's core and inside the image
        assert tile.y <= tile.own_y0 < tile.own_y1 <= min(tile.y + patch, h)
        assert tile.x <= tile.own_x0 < tile.own_x1 <= min(tile.x + patch, w)
        count[tile.own_y0:tile.own_y1, tile.own_x0:tile.own_x1] += 1
    assert (count == 1).all()


def test_tile_count_is_minimal_for_multiples_of_the_patch():
    t = TilingConfig(scale=4, patch=64, halo=8, align=2, thumb=64)
    assert len(plan_tiles(128, 192, t)) == 6
    assert len(plan_tiles(129, 192, t)) == 9  # one extra row, placed flush with the bottom


def test_bad_tiling_configs_are_refused():
    with pytest.raises(ValueError, match="multiple of 2"):
        TilingConfig(scale=4, patch=63, halo=8, align=2, thumb=64)
    with pytest.raises(ValueError, match="multiple of 2"):
        TilingConfig(scale=4, patch=64, halo=5, align=2, thumb=64)
    with pytest.raises(ValueError, match="empty"):
        plan_tiles(0, 5, TilingConfig(scale=4, patch=64, halo=8, align=2, thumb=64))


@pytest.mark.parametrize("variant,up", [("xs", "conv"), ("s", "conv"), ("xs", "interp")])
def test_receptive_field_is_covered_by_default_halo(variant, up):
    model = random_model(variant, up=up)
    t = model_tiling(model)
    assert t.halo >= receptive_field_radius(model) and t.halo % t.align == 0


def test_interp_up_widens_the_receptive_field_by_its_3x3_at_half_resolution():
    assert receptive_field_radius(random_model("xs", up="interp")) == receptive_field_radius(random_model("xs")) + 2


def test_interp_up_tiles_exactly_and_a_smaller_halo_shows_seams(rng):
    model = random_model("xs", up="interp")
    image = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    for halo, exact in ((model_tiling(model).halo, True), (8, False)):  # 8: the conv up's radius
        t = model_tiling(model, patch=32, halo=halo)
        diff = np.abs(upscale_with_model(model, image, t, as_float=True) - upscale_whole(model, image, t, as_float=True))
        assert (diff.max() <= 1e-5) == exact


SIZES = [(1, 1), (2, 3), (7, 5), (63, 64), (64, 64), (65, 130), (97, 201), (200, 33)]


@pytest.mark.parametrize("h,w", SIZES)
def test_tiled_equals_whole_image_in_float(xs_model, rng, h, w):
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    t = model_tiling(xs_model, patch=32)
    tiled = upscale_with_model(xs_model, image, t, as_float=True)
    whole = upscale_whole(xs_model, image, t, as_float=True)
    assert tiled.shape == (4 * h, 4 * w, 3)
    assert np.abs(tiled - whole).max() <= 1e-5


def test_teacher_tiles_exactly_too(rng):
    model = random_model("s")
    image = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    t = model_tiling(model, patch=32)
    diff = upscale_with_model(model, image, t, as_float=True) - upscale_whole(model, image, t, as_float=True)
    assert np.abs(diff).max() <= 1e-5


def test_halo_below_receptive_field_shows_seams(xs_model, rng):
    """The exactness check can fail: too small a halo changes pixels near tile borders."""
    image = rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)
    t = model_tiling(xs_model, patch=32, halo=2)
    diff = upscale_with_model(xs_model, image, t, as_float=True) - upscale_whole(xs_model, image, t, as_float=True)
    assert np.abs(diff).max() > 1e-3


def three_level_model(up: str = "conv"):
    import torch

    from mossnet.core.arch import MossNetConfig, build_model
    torch.manual_seed(1)
    cfg = MossNetConfig(variant="xs", channels=(8, 12, 16), enc_blocks=(1, 0), mid_blocks=1, dec_blocks=(1, 2), up=up)
    model = build_model(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("make", [lambda: random_model("xs"), lambda: random_model("s"), three_level_model,
                                  lambda: random_model("xs", up="interp"), lambda: three_level_model("interp")],
                         ids=["xs", "s", "three-levels", "xs-interp", "three-levels-interp"])
def test_patch_program_crops_early_with_the_same_values(make):
    """The exported patch program computes each decoder stage only where the core needs it
    (``margin``): its output must equal the centre of the full computation, and it must
    really crop (fewer multiply-adds than the full patch)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mossnet.core.pipeline import PatchProgram
    model = make()
    t = model_tiling(model, patch=32)
    x = torch.rand(1, 3, t.input_size, t.input_size)
    with torch.no_grad():
        modulation = model.context(torch.rand(1, 3, t.thumb, t.thumb)) * 1.5
    c = t.halo * t.scale
    with torch.no_grad(), FlopCounterMode(display=False) as full_count:
        full = model.upscaler(x, modulation)[:, :, c:-c, c:-c]
    with torch.no_grad(), FlopCounterMode(display=False) as core_count:
        core = PatchProgram(model, t)(x, modulation)
    assert core.shape == full.shape
    assert (core - full).abs().max().item() <= 1e-5  # float summation order only
    assert any(model.upscaler.decoder_crops(t.halo))
    assert core_count.get_total_flops() < 0.9 * full_count.get_total_flops()


def test_thumbnail_is_the_adaptive_average_pool(rng):
    import torch
    import torch.nn.functional as F
    t = TilingConfig(scale=4, patch=64, halo=8, align=2, thumb=64)
    for h, w in [(100, 37), (64, 64), (5, 300), (1, 1)]:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ref = F.adaptive_avg_pool2d(torch.from_numpy(image).permute(2, 0, 1)[None].double() / 255, 64)
        assert np.abs(make_thumbnail(image, t) - ref.numpy()).max() < 1e-6


def test_to_uint8_rounds_half_up_into_a_reused_contiguous_block(rng):
    """The tile loop converts every tile into one reused block: the same bits as a fresh
    conversion (clamp, then floor(v * 255 + 0.5)), channels last and contiguous, and with its
    buffers given it allocates nothing the size of a tile."""
    import tracemalloc

    from mossnet.core.tiling import to_uint8
    chw = (rng.random((3, 64, 48)) * 1.2 - 0.1).astype(np.float32)
    chw[0, 0, :4] = [0.5 / 255, 1.5 / 255, -3.0, 2.0]  # halves round up; out of range clamps
    expected = np.floor(np.clip(chw, 0, 1) * np.float32(255) + np.float32(0.5)).astype(np.uint8).transpose(1, 2, 0)
    fresh = to_uint8(chw)
    assert fresh.flags.c_contiguous and fresh.shape == (64, 48, 3)
    np.testing.assert_array_equal(fresh, expected)
    block, scratch = np.full((64, 48, 3), 7, np.uint8), np.empty_like(chw)
    tracemalloc.start()
    got = to_uint8(chw, out=block, scratch=scratch)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got is block and peak < 4096, peak
    np.testing.assert_array_equal(block, expected)
