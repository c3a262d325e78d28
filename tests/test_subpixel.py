"""Phase-balanced depth-to-space (issue 20): the projection, its promise (a constant error
anywhere draws no sub-pixel grid), training with it, and the int8 step that keeps it."""
import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mossnet import train
from mossnet.core.checkpoint import DEFAULT_CHECKPOINT, load_model, save_checkpoint
from mossnet.core.arch import InterpUp, ModulatedConv
from mossnet.core.metrics import subpixel_grid
from mossnet.core.pipeline import model_tiling
from mossnet.core.reparam import fold, reparameterize
from mossnet.core.subpixel import balance_, depth_to_space_convs, imbalance, phase_imbalance
from quantize import qat
from quantize.adaround import attr
from quantize.balance import BALANCED_WITHIN, balanced_round, balance_phases, unbalanced_up_layers
from quantize.calibration import calibration_set, default_calibration_files
from quantize.correction import conv_sites
from quantize.program import calibrate, convert, load_pipeline, prepare
from quantize.recipe import make_quantizer
from quantize.steps import kept_float

from conftest import EVAL_DIR
from test_train import make_images


def interp(model):
    """``model`` with its up convs converted as ``mossnet.train --up interp --init`` does."""
    model = copy.deepcopy(model)
    model.upscaler.up = torch.nn.ModuleList(InterpUp.from_conv(up) for up in model.upscaler.up)
    model.cfg = model.upscaler.cfg = replace(model.cfg, up="interp")
    return model


def unbalanced(seed: int = 0, up: str = "conv"):
    """The shipped XS with its depth-to-space convs pushed off balance (whatever it shipped as)."""
    model = load_model(DEFAULT_CHECKPOINT)[0].eval()
    model = interp(model) if up == "interp" else model
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv, _ in depth_to_space_convs(model).values():
            conv.weight += 0.05 * torch.randn(conv.weight.shape, generator=gen)
            conv.bias += 0.01 * torch.randn(conv.bias.shape, generator=gen)
    return model


def balanced(up: str = "conv"):
    model = unbalanced(up=up)
    balance_(model)
    return model


def flat_output_with_constant_errors(model, seed: int = 1) -> np.ndarray:
    """The patch upscaler on a flat colour, with a random constant per-channel error added to
    every modulated block's output (what int8 rounding is on a flat area); the output's centre."""
    gen = torch.Generator().manual_seed(seed)
    hooks = [m.register_forward_hook(lambda mod, args, out: out + 0.05 * torch.randn(
        1, out.shape[1], 1, 1, generator=gen)) for m in model.upscaler.modules() if isinstance(m, ModulatedConv)]
    try:
        x = torch.tensor([0.3, 0.6, 0.8]).view(1, 3, 1, 1).expand(1, 3, 80, 80)
        with torch.no_grad():
            modulation = model.context(torch.full((1, 3, model.cfg.thumb_size, model.cfg.thumb_size), 0.5))
            out = model.upscaler(x, modulation)[0].permute(1, 2, 0).numpy() * 255
    finally:
        for h in hooks:
            h.remove()
    c = 20 * model.cfg.scale  # away from the zero padding's reach
    return out[c:-c, c:-c]


@pytest.mark.parametrize("up", ["conv", "interp"])
def test_balance_projects_every_depth_to_space_conv_and_nothing_else(up):
    model = unbalanced(up=up)
    before = copy.deepcopy(model.state_dict())
    assert imbalance(model) > 0.05
    removed = balance_(model)
    assert removed > 0.05 and imbalance(model) < 1e-5
    names = {f"{n}.{p}" for n in depth_to_space_convs(model) for p in ("weight", "bias")}
    assert names == {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert balance_(model) < 1e-5  # a projection: once is enough


def test_the_shipped_xs_is_tail_balanced_as_its_model_card_says():
    model, ckpt = load_model(DEFAULT_CHECKPOINT, arch="xs")
    convs = depth_to_space_convs(model)
    assert phase_imbalance(convs["upscaler.tail"][0].weight, convs["upscaler.tail"][0].bias, 16) < BALANCED_WITHIN
    assert phase_imbalance(convs["upscaler.up.0"][0].weight, convs["upscaler.up.0"][0].bias, 4) > 0.1
    assert ckpt["metrics"]["args"]["balanced_phases"] == "tail" and ckpt["metrics"]["steps"] == 12000
    # so the default int8 keeps the up and the conv after it float (quantize.balance)
    assert unbalanced_up_layers(model) == ("upscaler.up.0", "upscaler.dec.0.0.conv")


@pytest.mark.parametrize("which", ["up", "tail"])
def test_balance_can_project_the_up_or_the_tail_alone(which):
    model = unbalanced()
    before = copy.deepcopy(model.state_dict())
    balance_(model, which)
    changed = {k.rsplit(".", 2)[-2] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == ({"tail"} if which == "tail" else {"0"})  # upscaler.up.0.weight
    left = {n for n, (conv, phases) in depth_to_space_convs(model).items()
            if phase_imbalance(conv.weight, conv.bias, phases) > 1e-3}
    assert left == {n for n in depth_to_space_convs(model) if n.endswith("tail") != (which == "tail")}


@pytest.mark.parametrize("up", ["conv", "interp"])
def test_balanced_upsampling_draws_no_grid_from_constant_errors(up):
    """Constant errors everywhere in the network: the balanced XS keeps the flat colour flat,
    the same network off balance draws a grid (so the check can fail)."""
    flat = flat_output_with_constant_errors(balanced(up))
    assert (flat.max((0, 1)) - flat.min((0, 1))).max() < 1e-3  # constant per colour
    assert subpixel_grid(flat.mean(-1)) < 1e-3
    assert subpixel_grid(flat_output_with_constant_errors(unbalanced(up=up)).mean(-1)) > 0.5


def test_interp_up_starts_as_the_conv_ups_balanced_projection_then_bilinear():
    """What ``--up interp --init`` starts from: the old conv's phases averaged, then bilinear
    upsampling (which the balanced conv up, nearest-neighbour, could not do)."""
    conv = unbalanced().upscaler.up[0]
    up = InterpUp.from_conv(conv)
    x = torch.rand(1, conv.in_channels, 12, 10)
    with torch.no_grad():
        mean = conv.weight.view(-1, 4, conv.in_channels, 1, 1).mean(1), conv.bias.view(-1, 4).mean(1)
        expected = F.interpolate(F.conv2d(x, *mean), scale_factor=2, mode="bilinear", align_corners=False)
        got = F.pixel_shuffle(up(x), 2)
    assert (got - expected)[:, :, 2:-2, 2:-2].abs().max() < 1e-5  # the borders see zero padding
    assert phase_imbalance(up.phases.weight, up.phases.bias, 4) < 1e-6


def test_balance_goes_into_the_plain_branch_when_over_parameterized():
    model = reparameterize(unbalanced(), expand=2)
    with torch.no_grad():
        model.upscaler.tail.expand_out.weight.normal_(0, 0.05)  # a branch off balance
    balance_(model)
    assert imbalance(model) < 1e-5
    plain = fold(model)
    assert imbalance(plain) < 1e-5
    for conv, phases in depth_to_space_convs(plain).values():
        assert phase_imbalance(conv.weight, conv.bias, phases) < 1e-5


def test_training_with_balanced_phases_writes_a_balanced_network(tmp_path):
    data = make_images(tmp_path / "imgs")
    out = tmp_path / "run"
    assert train.main(["--data", str(data), "--batch", "2", "--crop", "16", "--val-every", "2", "--holdout", "4",
                       "--out", str(out), "--steps", "2", "--reparam", "2", "--balanced-phases"]) == 0
    assert imbalance(load_model(out / "model.pt", arch="xs")[0]) < 1e-5


def test_training_an_interp_up_from_a_conv_up_checkpoint(tmp_path):
    """``--up interp --init`` converts a conv-up checkpoint; the other way round is refused."""
    data = make_images(tmp_path / "imgs")
    args = ["--data", str(data), "--batch", "2", "--crop", "16", "--val-every", "2", "--holdout", "4", "--steps", "2"]
    out = tmp_path / "run"
    assert train.main(args + ["--out", str(out), "--up", "interp", "--init", str(DEFAULT_CHECKPOINT),
                              "--balanced-phases"]) == 0
    model = load_model(out / "model.pt", arch="xs")[0]
    assert model.cfg.up == "interp" and isinstance(model.upscaler.up[0], InterpUp) and imbalance(model) < 1e-5
    assert train.main(args + ["--out", str(tmp_path / "back"), "--init", str(out / "model.pt")]) == 2


# -- int8 ---------------------------------------------------------------------------------------

def test_balanced_round_stays_within_a_step_and_sums_alike():
    gen = torch.Generator().manual_seed(0)
    x = 20 * torch.randn(48, 24, 9, generator=gen)
    g = x.view(3, 16, 24, 9)
    g -= (g.sum(-1, keepdim=True) - g.sum(-1, keepdim=True).mean(1, keepdim=True)) / 9  # balanced
    q = balanced_round(x, 16)
    assert torch.equal(q, q.round()) and (q - x).abs().max() < 1
    assert (q.view(3, 16, 24, 9).sum(-1).std(1) == 0).all()
    assert not (x.round().view(3, 16, 24, 9).sum(-1).std(1) == 0).all()  # nearest rounding alone does not
    ones = (30 * torch.randn(24, 1, 36, 1, generator=gen)).expand(24, 4, 36, 1).reshape(96, 36, 1)
    assert (balanced_round(ones, 4).view(24, 4, 36) == balanced_round(ones, 4).view(24, 4, 36)[:, :1]).all()


def converted(model, float_modules=()):
    tiling = model_tiling(model)
    calib = calibration_set(default_calibration_files(), tiling, 8)
    ctx, patch = prepare(model, tiling, make_quantizer(float_modules=float_modules))
    calibrate(model, ctx, patch, calib)
    return convert(ctx), convert(patch)


def constants(gm) -> dict[str, torch.Tensor]:
    return {n.target: attr(gm, n.target).detach().clone() for n in gm.graph.nodes if n.op == "get_attr"}


@pytest.mark.parametrize("trained_balanced,up", [(True, "conv"), (False, "conv"), (True, "interp")])
def test_phase_balance_step_balances_the_int8_convs_and_changes_nothing_else(trained_balanced, up):
    model = balanced(up) if trained_balanced else unbalanced(up=up)
    _, patch = converted(model)
    sites = {s.module: s for s in conv_sites(patch)}
    with torch.no_grad():  # stand in for learned rounding and bias correction: phase by phase
        for name in depth_to_space_convs(model):
            attr(patch, sites[name].bias_attr).add_(1e-3 * torch.arange(len(attr(patch, sites[name].bias_attr))))
    before = constants(patch)
    report = balance_phases(model, patch)
    changed = {k for k, v in constants(patch).items() if not torch.equal(v, before[k])}
    if not trained_balanced:
        assert not changed and not any(r["balanced"] for r in report.values())
        return
    allowed = set()
    for name, (_, phases) in depth_to_space_convs(model).items():
        node = sites[name].node.args[1].args[0]  # quantize_per_channel(weight, scale, ...)
        allowed |= {node.args[0].target, node.args[1].target, sites[name].bias_attr}
        weight, scale = attr(patch, node.args[0].target), attr(patch, node.args[1].target)
        assert report[name]["balanced"] and report[name]["int8_imbalance_after"] < 1e-5
        ints = weight / scale.view(-1, 1, 1, 1)
        assert torch.allclose(ints, ints.round(), atol=1e-3)  # still on the int8 grid
        assert (ints.round().abs() <= 127).all()
    assert changed and changed <= allowed


def tail_balanced():
    model = unbalanced()
    balance_(model, "tail")
    return model


@pytest.mark.parametrize("make,expected", [(tail_balanced, ("upscaler.up.0", "upscaler.dec.0.0.conv")),
                                           (unbalanced, ()), (balanced, ())])
def test_float_unbalanced_up_keeps_the_up_and_its_reader_float_only_with_a_balanced_tail(make, expected):
    model = make()
    assert unbalanced_up_layers(model) == expected
    assert kept_float(model, ("upscaler.tail",)) == ("upscaler.tail",) + expected
    assert kept_float(model, (), {"float_unbalanced_up": False}) == ()


def test_the_float_unbalanced_up_layers_run_float_and_the_rest_int8():
    model = tail_balanced()
    _, patch = converted(model, unbalanced_up_layers(model))
    int8 = {s.module for s in conv_sites(patch)}
    assert "upscaler.tail" in int8 and "upscaler.mid.0.conv" in int8
    assert not int8 & {"upscaler.up.0", "upscaler.dec.0.0.conv"}


def int8_imbalance(patch, model) -> float:
    """The largest phase imbalance of a converted program's int8 depth-to-space convs."""
    sites = {s.module: s for s in conv_sites(patch)}
    worst = 0.0
    for name, (_, phases) in depth_to_space_convs(model).items():
        node = sites[name].node.args[1].args[0]
        worst = max(worst, phase_imbalance(attr(patch, node.args[0].target), attr(patch, sites[name].bias_attr), phases))
    return worst


def test_qat_keeps_a_balanced_network_balanced(tmp_path):
    """QAT moves the weights phase by phase: it projects after every step and balances in int8."""
    ckpt, out = tmp_path / "balanced.pt", tmp_path / "qat"
    model = balanced()
    save_checkpoint(ckpt, model)
    assert qat.main([str(ckpt), "--num-calib", "8", "--steps", "3", "--batch", "2", "--eval", EVAL_DIR,
                     "--out", str(out)]) == 0
    meta = json.loads((out / "quant.json").read_text())
    assert meta["recipe"]["steps"]["phase_balance"]
    assert all(r["balanced"] for r in meta["step_details"]["phase_balance"].values())
    assert int8_imbalance(load_pipeline(out).upscale_patch, model) < 1e-5
