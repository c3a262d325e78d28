"""The shipped checkpoints are what the model card says: XS and its teacher, trained, in order."""
import pytest

from mossnet.core.checkpoint import load_model
from mossnet.core.evaluation import bicubic_upscale, evaluate
from mossnet.core.paths import WEIGHTS
from mossnet.core.pipeline import model_tiling, upscale_with_model
from mossnet.tools.flat_check import flat_colour_errors

from conftest import BENCHMARKS, needs_benchmarks

SHIPPED = {"xs": WEIGHTS / "mossnet_xs_x4.pt", "s": WEIGHTS / "mossnet_s_x4.pt"}


@pytest.mark.parametrize("variant", sorted(SHIPPED))
def test_shipped_checkpoint_records_its_training(variant):
    _, ckpt = load_model(SHIPPED[variant], arch=variant, scale=4)
    metrics = ckpt["metrics"]
    assert metrics["steps"] > 0 and metrics["wall_time_s"] > 0
    assert f"--arch {variant}" in metrics["command"]


@needs_benchmarks()
def test_teacher_outscores_the_student():
    """On Set5 the teacher (9x the parameters) beats the XS, and the XS beats bicubic clearly:
    the two files are trained networks, not swapped."""
    methods = {"bicubic": bicubic_upscale(4)}
    for variant, path in SHIPPED.items():
        model, _ = load_model(path)
        methods[variant] = lambda lr, m=model: upscale_with_model(m, lr, model_tiling(m))
    psnr = {m: r["Set5"]["psnr"] for m, r in
            evaluate(methods, [str(BENCHMARKS / "Set5")], 4, progress=False).items()}
    assert psnr["xs"] > psnr["bicubic"] + 1.5
    assert psnr["s"] > psnr["xs"]


@pytest.mark.parametrize("variant", sorted(SHIPPED))
def test_flat_colour_stays_flat(variant):
    """A flat image of any colour, the cube's corners included, upscales to the same flat
    colour: the context encoder must not turn a saturated thumbnail into a sub-pixel grid."""
    model, _ = load_model(SHIPPED[variant])
    errors = flat_colour_errors(model)
    assert max(errors.values()) <= 4, {c: e for c, e in errors.items() if e > 4}


def test_flat_check_reports_random_flat_colours_on_request(capsys):
    """``--random-colours`` adds one column, in the header and in every row."""
    from mossnet.tools.flat_check import main
    assert main([str(SHIPPED["xs"]), "--random-colours", "2", "--random-seed", "3"]) == 0
    header, rule, row = capsys.readouterr().out.strip().splitlines()
    assert "grid: 2 random flats" in header
    assert header.count("|") == rule.count("|") == row.count("|") == 8
    assert row.startswith(f"| {SHIPPED['xs']} |") and " over |" in row
