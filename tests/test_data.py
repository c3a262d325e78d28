"""Training crops: colour views and flat images keep every crop a true (LR, HR, thumbnail) triple."""
import torch

from mossnet.core.bicubic import downscale_uint8
from mossnet.core.data import FLAT_EDGE, color_view, flat_images


def test_color_view_permutes_and_inverts_channels_consistently():
    gen = torch.Generator().manual_seed(0)
    hr = torch.randint(0, 256, (64, 3, 16, 16)).double()
    lr = torch.stack([downscale_uint8(x, 4) for x in hr]) / 255.0
    hr = hr / 255.0
    thumb = lr.mean(dim=(2, 3), keepdim=True).expand(-1, -1, 4, 4)
    lr2, hr2, thumb2 = color_view(lr.float(), hr.float(), thumb.float(), 1.0, gen)
    changed = 0
    for i in range(len(hr)):
        for c in range(3):  # each output channel is one input channel, maybe inverted
            match = [(s, inv) for s in range(3) for inv in (False, True)
                     if torch.allclose(hr2[i, c], (1 - hr[i, s] if inv else hr[i, s]).float())]
            assert len(match) >= 1
            s, inv = match[0]
            for a, b in ((lr2, lr), (thumb2, thumb)):  # the same map for crop and thumbnail
                assert torch.allclose(a[i, c], (1 - b[i, s] if inv else b[i, s]).float(), atol=1e-6)
        changed += not torch.equal(hr2[i], hr[i].float())
    assert changed > 48  # of 64 crops: 47 of the 48 colour views change a crop
    # the LR crop is still the degradation of the HR crop, up to uint8 rounding
    redo = torch.stack([downscale_uint8(x * 255, 4) for x in hr2.double()]) / 255.0
    assert (redo - lr2.double()).abs().max() <= 1 / 255 + 1e-6


def test_color_view_off_leaves_the_batch_alone():
    x = torch.rand(8, 3, 8, 8)
    out = color_view(x, x, x, 0.0, torch.Generator().manual_seed(0))
    assert all(torch.equal(o, x) for o in out)


def test_flat_images_replace_whole_crops_with_one_colour():
    gen = torch.Generator().manual_seed(0)
    lr, hr, thumb = torch.rand(200, 3, 6, 6), torch.rand(200, 3, 24, 24), torch.rand(200, 3, 4, 4)
    lr2, hr2, thumb2 = flat_images(lr, hr, thumb, 0.5, gen)
    flat = [i for i in range(200) if not torch.equal(hr2[i], hr[i])]
    assert 60 < len(flat) < 140
    for i in range(200):
        if i not in flat:
            assert torch.equal(lr2[i], lr[i]) and torch.equal(thumb2[i], thumb[i])
            continue
        colour = hr2[i, :, :1, :1]
        for t in (lr2[i], hr2[i], thumb2[i]):
            assert torch.equal(t, colour.expand_as(t))
    corners = torch.stack([hr2[i, :, 0, 0] for i in flat])
    assert ((corners == 0) | (corners == 1)).all(dim=1).any()  # the cube's corners come up


def test_flat_images_near_edges_reach_just_inside_the_ends_and_change_nothing_else():
    """Channels within FLAT_EDGE of 0 or 1 (not at them) are rare without ``near_edges`` and
    common with it; without it the draws are the recipe's as before (same colours)."""
    lr, hr, thumb = torch.rand(400, 3, 2, 2), torch.rand(400, 3, 8, 8), torch.rand(400, 3, 2, 2)

    def colours(near_edges):
        out = flat_images(lr, hr, thumb, 1.0, torch.Generator().manual_seed(0), near_edges)[1][:, :, 0, 0]
        return out, ((out > 0) & (out < FLAT_EDGE)) | ((out < 1) & (out > 1 - FLAT_EDGE))
    plain, plain_near = colours(False)
    _, edges_near = colours(True)
    assert plain_near.float().mean() < 0.05 and 0.35 < edges_near.float().mean() < 0.5
    assert ((plain == 0) | (plain == 1)).float().mean() > 0.6
    gen = torch.Generator().manual_seed(0)  # the draws the recipe made before near_edges existed
    chosen, kind = torch.rand(400, generator=gen) < 1.0, torch.randint(0, 3, (400, 3), generator=gen)
    expected = torch.where(kind == 0, 0.0, torch.where(kind == 1, 1.0, torch.rand(400, 3, generator=gen)))
    assert chosen.all() and torch.equal(plain, expected)


def test_margin_widens_the_lr_crop_around_the_same_patch(tmp_path):
    """The inner square of a widened crop is the plain crop (same draws), and where the image
    ends the margin repeats its edge pixels, as the tiled pipeline's replicate padding does."""
    import numpy as np
    from PIL import Image

    from mossnet.core.data import TrainingImages

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    images = TrainingImages([str(tmp_path)], 4, 4, torch.device("cpu"), max_side=640, min_lr_side=8)
    lr_img = images.lr[0].float() / 255.0  # 10x12 LR
    for seed in range(20):
        plain = images.sample(2, 8, torch.Generator().manual_seed(seed))
        wide = images.sample(2, 8, torch.Generator().manual_seed(seed), margin=3)
        assert wide[0].shape[-2:] == (14, 14) and torch.equal(wide[0][..., 3:-3, 3:-3], plain[0])
        assert torch.equal(wide[1], plain[1]) and torch.equal(wide[2], plain[2])
    padded = torch.nn.functional.pad(lr_img[None], (3, 3, 3, 3), mode="replicate")[0]
    crops = {tuple(c.flatten().tolist()) for y in range(padded.shape[1] - 13)
             for x in range(padded.shape[2] - 13) for c in [padded[:, y:y + 14, x:x + 14]]}
    for seed in range(20):  # every widened crop (up to its flips) is a window of the padded image
        crop = images.sample(1, 8, torch.Generator().manual_seed(seed), margin=3)[0][0]
        views = [crop, crop.flip(-1), crop.flip(-2), crop.flip(-1).flip(-2)]
        views += [v.transpose(-1, -2) for v in views]
        assert any(tuple(v.flatten().tolist()) in crops for v in views)
