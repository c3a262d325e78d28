"""Issue 20's post-training steps: each can be switched off, and when on it changes exactly
what it claims to (CLE and activation equalization: the float weights of their pairs, not the
function; the output on the pixel grid: the output's range; learned rounding: the int8
weights, nothing else; bias correction: the biases, nothing else). And the grid metric and the
int8 flat check that found the sub-pixel grid."""
import copy

import numpy as np
import pytest
import torch

from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, load_model
from mossnet.core.flatness import FLAT_COLOURS, flat_image, flatness, gradient_image, random_flat_colours
from mossnet.core.metrics import subpixel_grid
from mossnet.core.pipeline import model_tiling
from quantize import ptq
from quantize.adaround import adaround, attr
from quantize.calibration import TONES, calibration_set, default_calibration_files, describe
from quantize.correction import bias_correction, conv_sites
from quantize.equalize import (
    LIMIT,
    activation_ranges,
    equalization_pairs,
    equalize,
    equalize_activations,
    film_blocks,
)
from quantize.program import calibrate, convert, prepare
from quantize.recipe import DEFAULT_STEPS, PIXEL_GRID, make_quantizer

Q = torch.ops.quantized_decomposed


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_CHECKPOINT)[0].eval()


@pytest.fixture(scope="module")
def converted(model):
    """The converted programs of a small calibration, and the calibration."""
    tiling = model_tiling(model)
    calib = calibration_set(default_calibration_files(), tiling, 24)
    ctx, patch = prepare(model, tiling, make_quantizer())
    calibrate(model, ctx, patch, calib)
    return convert(ctx), convert(patch), calib


def constants(gm) -> dict[str, torch.Tensor]:
    """Every get_attr tensor of a graph, by target."""
    return {n.target: attr(gm, n.target).detach().clone() for n in gm.graph.nodes if n.op == "get_attr"}


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


# -- the grid metric --------------------------------------------------------------------------

def test_grid_metric_sees_a_periodic_offset_and_nothing_else():
    flat = flat_image((200, 170, 60)).repeat(4, 0).repeat(4, 1)
    assert subpixel_grid(flat) == 0
    assert subpixel_grid(gradient_image().repeat(4, 0).repeat(4, 1)) < 0.05
    marked = flat.astype(np.float64)
    marked[1::4, 2::4] += 3  # one phase of 16 off by 3 levels in every channel
    assert subpixel_grid(marked) == pytest.approx(3 * 15 / 16, abs=0.1)
    rng = np.random.default_rng(0)
    noise = flat + rng.normal(0, 2, flat.shape)  # noise is no grid
    assert subpixel_grid(noise) < 0.2


def test_flatness_reports_a_grid_drawn_by_the_programs(model):
    """The check fails a program that adds a fixed per-sub-pixel offset, and passes the float
    model on flats and gradients; so does its count of random flat colours with a grid."""
    from mossnet.core.pipeline import ContextProgram, PatchProgram
    tiling = model_tiling(model)
    ctx, patch = ContextProgram(model), PatchProgram(model, tiling)
    colours = [(0, 0, 0), (200, 170, 60), (255, 255, 255)]

    def context_fn(thumb):
        with torch.no_grad():
            return ctx(torch.from_numpy(thumb)).numpy()

    def patch_fn(p, m, offset=0.0):
        with torch.no_grad():
            out = patch(torch.from_numpy(p), torch.from_numpy(m)).numpy()
        out[..., ::4, ::4] += offset
        return out
    good = flatness(context_fn, patch_fn, tiling, colours, photo=False, random_colours=3)
    assert good["flat_worst_levels"] <= 2 and good["flat_grid_levels"] <= 0.15 and good["pass"]
    assert good["random_flats"]["colours"] == 3 and good["random_flats"]["over_bound"] == 0
    bad = flatness(context_fn, lambda p, m: patch_fn(p, m, 3 / 255), tiling, colours, photo=False,
                   random_colours=3)
    assert bad["flat_grid_levels"] > 1 and bad["gradient_grid_levels"] > 1 and not bad["pass"]
    assert bad["random_flats"]["over_bound"] == 3 and bad["random_flats"]["grid_max_levels"] > 1
    assert "random_flats" not in flatness(context_fn, patch_fn, tiling, colours[:1], photo=False)


def test_random_flat_colours_are_the_same_every_run_and_mostly_unclipped():
    colours = random_flat_colours(64)
    assert colours == random_flat_colours(64) and len(set(colours)) == 64
    assert random_flat_colours(64, seed=7) != colours
    assert not set(colours) & set(FLAT_COLOURS)
    assert sum(0 < v < 255 for c in colours for v in c) > 0.95 * 3 * 64


# -- calibration ------------------------------------------------------------------------------

def test_default_calibration_is_many_varied_tiles(model):
    tiling = model_tiling(model)
    files = default_calibration_files()
    calib = calibration_set(files, tiling, 256)
    d = describe(calib, len(files))
    assert d["tiles"] >= 200 and d["images"] >= 3 * len(TONES) * len(files) // 2
    means = [c.thumb.mean() for c in calib]
    assert min(means) < 0.1 and max(means) > 0.5  # dark and bright variants are there
    plain = calibration_set(files, tiling, 256, augment=False)
    assert sum(len(c.patches) for c in plain) < d["tiles"]


# -- CLE ----------------------------------------------------------------------------------------

def test_cle_keeps_the_function_and_changes_only_its_pairs(model):
    eq, report = equalize(model)
    assert report and max(report.values()) > 1.5  # it did scale channels
    lr, thumb = torch.rand(2, 3, 40, 40), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(lr, thumb), eq(lr, thumb), atol=1e-4)
    touched = {name for pair in equalization_pairs(model) for name in pair[:2]} | {"context.film"}
    before, after = dict(model.named_parameters()), dict(eq.named_parameters())
    moved = {n.rsplit(".", 1)[0] for n in before if not torch.equal(before[n], after[n])}
    assert moved and moved <= touched
    assert "upscaler.head" not in moved  # its output feeds the skip connection
    # ranges equalized: the pair's two ranges per channel become equal
    mods = dict(eq.named_modules())
    r1 = mods["upscaler.dec.0.0.conv"].weight.abs().amax(dim=(1, 2, 3))  # the last pair of its chain
    r2 = mods["upscaler.tail"].weight.abs().amax(dim=(0, 2, 3))
    assert torch.allclose(r1, r2, rtol=1e-4)


# -- activation equalization ---------------------------------------------------------------------

def test_activation_equalization_keeps_the_function_and_evens_out_the_ranges(model):
    tiling = model_tiling(model)
    calib = calibration_set(default_calibration_files(), tiling, 12)
    eq, report = equalize_activations(model, tiling, calib)
    assert report and max(report.values()) > 2  # XS's FiLM inputs span 4 to 40: it did scale
    lr, thumb = torch.rand(2, 3, 40, 40), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(lr, thumb), eq(lr, thumb), atol=1e-4)
    blocks = film_blocks(model)
    touched = ({f"{b}.conv" for b in blocks} | {name for pair in equalization_pairs(model) for name in pair[:2]
                                                if name.startswith("upscaler.")} | {"context.film"})
    before, after = dict(model.named_parameters()), dict(eq.named_parameters())
    moved = {n.rsplit(".", 1)[0] for n in before if not torch.equal(before[n], after[n])}
    assert moved and moved <= touched
    assert "upscaler.head" not in moved and "upscaler.up.0" in moved  # skip producer untouched; a consumer
    # on the same tiles, every live channel of an equalized tensor now spans the same range:
    # the FiLM inputs and the ReLU outputs that feed the next convolution of a pair
    ranges = activation_ranges(eq, tiling, calib)
    relu_outputs = [first.removesuffix(".conv") if film is not None else first
                    for first, _, film in equalization_pairs(model) if first.startswith("upscaler.")]
    assert "upscaler.down.0" in relu_outputs and blocks[-1] in relu_outputs
    # (a channel narrower than 1/LIMIT of the widest grows by LIMIT, no more)
    before_ranges = activation_ranges(model, tiling, calib)
    for name in [f"{b}.conv" for b in blocks] + relu_outputs:
        old, new = before_ranges[name], ranges[name]
        live, within = new > 1e-6, old >= old.max() / LIMIT
        r = new[live & within]
        assert float(r.min() / r.max()) > 0.99, name
        past = live & ~within
        assert torch.allclose(new[past] / new.max(), old[past] / old.max() * LIMIT, rtol=0.02), name
    old = before_ranges["upscaler.mid.0.conv"]
    assert float(old.min() / old.max()) < 0.5  # and before, they did not


# -- the output on the pixel grid ---------------------------------------------------------------

@pytest.mark.parametrize("on", [True, False])
def test_output_on_the_pixel_grid(model, on):
    """On: the op whose output the program returns (through depth-to-space) quantizes it with
    scale 1/255 over [0, 1], exactly uint8's levels; off: with the range its observer saw."""
    tiling = model_tiling(model)
    calib = calibration_set(default_calibration_files(), tiling, 4)
    ctx, patch = prepare(model, tiling, make_quantizer(pixel_grid_output=on))
    calibrate(model, ctx, patch, calib)
    patch = convert(patch)
    (out,) = [n for n in patch.graph.nodes if n.op == "output"]
    node = out.args[0][0]
    while node.target != Q.dequantize_per_tensor.default:
        node = node.args[0]
    scale, zero_point = node.args[1:3]
    if on:
        assert (PIXEL_GRID.scale, PIXEL_GRID.zero_point) == (1 / 255, -128)
        assert (scale, zero_point) == (pytest.approx(1 / 255, rel=1e-6), -128)  # stored as float32
    else:
        assert abs(scale - 1 / 255) > 1e-5


# -- learned rounding ---------------------------------------------------------------------------

def test_adaround_changes_only_int8_weights_to_values_on_their_grid(model, converted):
    ctx, patch, calib = (copy.deepcopy(converted[0]), copy.deepcopy(converted[1]), converted[2])
    before = {g: constants(g) for g in (ctx, patch)}
    report = adaround(model, model_tiling(model), ctx, patch, calib, iters=60, max_tiles=8)
    assert report
    weights = set()
    for gm in (ctx, patch):
        for site in conv_sites(gm):
            weights.add(site.node.args[1].args[0].args[0].target)
        diff = changed(before[gm], constants(gm))
        assert diff <= weights  # nothing but weights
        for site in conv_sites(gm):
            qnode = site.node.args[1].args[0]
            w, s = attr(gm, qnode.args[0].target), attr(gm, qnode.args[1].target)
            ints = w / s.view(-1, 1, 1, 1)
            assert torch.allclose(ints, ints.round(), atol=1e-3)  # exactly on the int8 grid
    assert any(r["kept"] == "learned" for r in report.values())
    learned = [r for r in report.values() if r["kept"] == "learned"]
    assert all(r["mse_learned"] < r["mse_nearest"] for r in learned)


def test_learned_rounding_learns_under_a_callers_no_grad():
    """An optimization inside: a caller's (or an earlier command's) disabled grad mode must not
    stop it (the full suite once ran it after code that had set grad mode off globally)."""
    from quantize.adaround import learn_rounding
    gen = torch.Generator().manual_seed(0)
    w, x = torch.randn(4, 9, generator=gen), torch.randn(256, 9, generator=gen)
    scale, bias = w.abs().amax(dim=1) / 127, torch.zeros(4)
    with torch.no_grad():
        ints, nearest, learned = learn_rounding(w, scale, x, x @ w.t(), bias, iters=20, gen=gen)
    assert torch.equal(ints, ints.round()) and learned >= 0 and nearest >= 0


# -- bias correction ----------------------------------------------------------------------------

def tail_mean_error(model, tiling, ctx, patch, calib) -> float:
    """Largest per-channel mean of (float - int8) tail output over the calibration tiles."""
    from mossnet.core.pipeline import PatchProgram
    from quantize.correction import _float_means, _int8_mean
    site = next(s for s in conv_sites(patch) if s.module == "upscaler.tail")
    pairs = [(c, p) for c in calib for p in c.patches]
    with torch.no_grad():
        q = [(torch.from_numpy(p), ctx(torch.from_numpy(c.thumb))) for c, p in pairs]
        f = [(torch.from_numpy(p), model.context(torch.from_numpy(c.thumb))) for c, p in pairs]
        ref = _float_means(PatchProgram(model, tiling).eval(), model, ["upscaler.tail"], f)["upscaler.tail"]
        return float((ref - _int8_mean(patch, site.node, q)).abs().max())


def test_bias_correction_changes_only_biases_and_centres_the_tail(model, converted):
    ctx, patch, calib = (copy.deepcopy(converted[0]), copy.deepcopy(converted[1]), converted[2])
    tiling = model_tiling(model)
    before = {g: constants(g) for g in (ctx, patch)}
    error_before = tail_mean_error(model, tiling, ctx, patch, calib)
    shifts = bias_correction(model, tiling, ctx, patch, calib)
    assert max(shifts.values()) > 0
    assert not conv_sites(ctx)  # the context stays float: nothing to correct
    assert not changed(before[ctx], constants(ctx))
    biases = {s.bias_attr for s in conv_sites(patch)}
    diff = changed(before[patch], constants(patch))
    assert diff and diff <= biases
    # the 48 tail channels (one per sub-pixel position and colour) are centred on float
    assert tail_mean_error(model, tiling, ctx, patch, calib) < 0.25 * error_before


# -- the float modulation path -------------------------------------------------------------------

def quantize_ops(gm) -> list[torch.fx.Node]:
    return [n for n in gm.graph.nodes if n.op == "call_function" and n.target in
            (Q.quantize_per_tensor.default, Q.quantize_per_channel.default)]


def modulation_input(patch) -> torch.fx.Node:
    return next(n for n in patch.graph.nodes if n.op == "placeholder" and n.name == "modulation")


@pytest.mark.parametrize("on", [True, False])
def test_float_modulation_keeps_the_context_and_film_float_and_nothing_else(model, on):
    """On: the context program has no quantize op and the FiLM multiplies and adds take the
    float modulation slices; off: the context is int8 and the modulation input is quantized
    once (its slices share that range). The patch program's convolutions are int8 either way."""
    tiling = model_tiling(model)
    calib = calibration_set(default_calibration_files(), tiling, 4)
    ctx, patch = prepare(model, tiling, make_quantizer(float_modulation=on))
    calibrate(model, ctx, patch, calib)
    ctx, patch = convert(ctx), convert(patch)
    assert bool(quantize_ops(ctx)) is not on
    users = [u for u in modulation_input(patch).users if u.op == "call_function"]  # not export's guard
    if on:
        assert {u.target for u in users} == {torch.ops.aten.slice.Tensor}
        assert {u.target for piece in users for u in piece.users} == {torch.ops.aten.mul.Tensor,
                                                                       torch.ops.aten.add.Tensor}
    else:
        assert [u.target for u in users] == [Q.quantize_per_tensor.default]
    assert len(conv_sites(patch)) == sum(isinstance(m, torch.nn.Conv2d) for m in model.upscaler.modules())


# -- the switches -------------------------------------------------------------------------------

def test_each_step_has_a_switch():
    assert ptq.PTQOptions().steps() == DEFAULT_STEPS == ptq.options([]).steps()
    for step in DEFAULT_STEPS:
        flag = step.replace("_", "-")
        assert ptq.options([f"--no-{flag}"]).steps() == dict(DEFAULT_STEPS, **{step: False})
        assert ptq.options([f"--{flag}"]).steps() == dict(DEFAULT_STEPS, **{step: True})
    off = ptq.options([f"--no-{step.replace('_', '-')}" for step in DEFAULT_STEPS]).steps()
    assert not any(off.values())


def test_bad_step_flag_is_one_line_and_nonzero(capsys):
    with pytest.raises(SystemExit) as exc:
        ptq.options(["--no-such-step"])
    assert exc.value.code == 2
    assert "--no-such-step" in capsys.readouterr().err


def test_the_exporters_default_int8_is_the_recipes_choice():
    """``python -m quantize.recipe`` names the default int8 method; every runtime that builds
    from a quantized pipeline defaults to it."""
    from quantize.recipe import DEFAULT_METHOD
    from targets import registry
    for rt in (registry.get("executorch"), registry.get("pt2e")):
        assert rt.precision(rt.default_precision).quantized_by == DEFAULT_METHOD
