"""Training-time over-parameterization folds exactly into the shipped architecture."""
import copy

import pytest
import torch
from test_train import make_images

from mossnet import train
from mossnet.core.checkpoint import load_model
from mossnet.core.reparam import RepConv3x3, fold, is_reparameterized, reparameterize

from conftest import random_model


def perturbed_branches(model, seed=1):
    """Give every extra branch non-zero weights (they start at zero)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(k in name for k in ("expand_out", "edge_scale", "identity_scale")):
                p.normal_(0, 0.05)
    return model


def test_reparameterize_keeps_the_function_and_folds_exactly():
    plain = random_model("xs")
    lr, thumb = torch.rand(2, 3, 26, 34), torch.rand(2, 3, 64, 64)
    rep = reparameterize(copy.deepcopy(plain)).eval()
    assert is_reparameterized(rep) and not is_reparameterized(plain)
    assert torch.equal(rep(lr, thumb), plain(lr, thumb))  # extra branches start at zero

    rep = perturbed_branches(rep)
    changed = rep(lr, thumb)
    assert (changed - plain(lr, thumb)).abs().max() > 1e-2  # the branches do something
    folded = fold(copy.deepcopy(rep)).eval()
    assert not is_reparameterized(folded)
    assert folded.state_dict().keys() == plain.state_dict().keys()
    assert torch.allclose(folded(lr, thumb), changed, atol=1e-5)
    with pytest.raises(ValueError, match="already"):
        reparameterize(rep)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("cin,cout", [(8, 8), (3, 8), (8, 12)])
def test_one_conv_equals_its_branches(stride, cin, cout):
    """The fused kernel equals running every branch, borders included (odd sizes)."""
    torch.manual_seed(0)
    rep = perturbed_branches(RepConv3x3(torch.nn.Conv2d(cin, cout, 3, stride, 1), expand=3))
    x = torch.rand(2, cin, 15, 10)
    assert torch.allclose(rep(x), rep.forward_branches(x), atol=1e-5)
    assert torch.allclose(rep.folded()(x), rep.forward_branches(x), atol=1e-5)


def test_train_with_reparam_saves_the_plain_architecture(tmp_path, capsys):
    data = make_images(tmp_path / "imgs")
    common = ["--data", str(data), "--batch", "2", "--crop", "16", "--val-every", "2",
              "--holdout", "4", "--out", str(tmp_path / "run")]
    assert train.main(common + ["--steps", "2", "--reparam", "2"]) == 0
    model, ckpt = load_model(tmp_path / "run" / "model.pt", arch="xs")
    assert not is_reparameterized(model) and ckpt["metrics"]["args"]["reparam"] == 2
    assert train.main(common + ["--steps", "4", "--reparam", "2", "--resume"]) == 0
    capsys.readouterr()
    assert train.main(common + ["--steps", "6", "--resume"]) == 2  # resumed without --reparam
    assert "--reparam" in capsys.readouterr().err
