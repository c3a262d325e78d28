"""MossNet-XS must fit the mobile budget; the teacher must stay under 1M parameters."""
import pytest

from mossnet.core.arch import build_model, count_parameters, make_config
from mossnet.tools.info import count_flops


def test_xs_fits_the_budget():
    model = build_model(make_config("xs"))
    assert count_parameters(model) <= 70_000
    assert count_flops(model, 256) <= 3.5e9


def test_teacher_is_larger_but_under_1m():
    xs, s = build_model(make_config("xs")), build_model(make_config("s"))
    assert count_parameters(xs) < count_parameters(s) <= 1_000_000


def test_flop_counter_counts_two_per_multiply_add():
    model = build_model(make_config("xs"))
    # FLOPs of the U-Net scale with the LR area: 4x the pixels, 4x the FLOPs (context fixed).
    small, large = count_flops(model, 64), count_flops(model, 128)
    ctx = count_flops(model, 64) - (large - small) / 3
    assert (large - ctx) == pytest.approx(4 * (small - ctx), rel=1e-6)
    head = 2 * 3 * 24 * 9 * 64 * 64  # first conv alone: 2 * Cin * Cout * k*k * H * W
    assert small > head


@pytest.mark.parametrize("scale", [2, 4])
def test_both_scales_build_and_upscale(scale):
    import torch
    model = build_model(make_config("xs", scale)).eval()
    out = model(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 3, 16 * scale, 16 * scale)


def test_unknown_variant_and_scale_are_refused():
    with pytest.raises(ValueError, match="unknown MossNet variant"):
        make_config("xl")
    with pytest.raises(ValueError, match="x3"):
        make_config("xs", 3)


def test_probed_xs_shapes_fit_the_budget():
    """scripts/xs_shape_probe.py compares shapes at the XS budget: each must fit it."""
    import importlib.util
    from pathlib import Path

    from mossnet.core.arch import MossNetConfig
    from mossnet.tools.info import receptive_field_radius
    path = Path(__file__).resolve().parent.parent / "scripts" / "xs_shape_probe.py"
    spec = importlib.util.spec_from_file_location("xs_shape_probe", path)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    expected = {"shipped": (64_484, 8), "deep-mid": (68_728, 11), "deep-ends": (63_740, 12)}
    for name, shape in probe.SHAPES.items():
        model = build_model(MossNetConfig(variant="xs", **shape))
        assert (count_parameters(model), receptive_field_radius(model)) == expected[name]
        assert count_flops(model, 256) <= 3.5e9
    assert probe.main(["no-such-shape"]) == 2
