"""Training runs, writes a loadable checkpoint, resumes, and distills."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from mossnet import train
from mossnet.core.checkpoint import load_model, save_checkpoint

from conftest import random_model


def make_images(folder, n=4, size=160):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        base = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        Image.fromarray(base).resize((size, size), Image.BICUBIC).save(folder / f"{i}.png")
    return folder


def test_train_resume_and_distill(tmp_path):
    data = make_images(tmp_path / "imgs")
    common = ["--data", str(data), "--batch", "2", "--crop", "16", "--val-every", "2", "--holdout", "4"]
    out = tmp_path / "run"
    assert train.main(common + ["--out", str(out), "--steps", "4"]) == 0
    model, ckpt = load_model(out / "model.pt", arch="xs")
    assert ckpt["metrics"]["steps"] == 4 and "command" in ckpt["metrics"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4] and all(np.isfinite(r["val_psnr"]) for r in log)

    # resume: a longer run continues from last.pt instead of starting again
    assert train.main(common + ["--out", str(out), "--steps", "6", "--resume"]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4, 6]

    teacher = tmp_path / "s.pt"
    save_checkpoint(teacher, random_model("s"))
    assert train.main(common + ["--out", str(tmp_path / "kd"), "--steps", "2", "--teacher", str(teacher),
                                "--init", str(out / "model.pt"), "--color-aug", "0.5", "--flat-aug", "0.5",
                                "--loss", "mse", "--loss-margin", "2"]) == 0


def test_ema_validates_and_saves_the_average(tmp_path, capsys):
    """``--ema 1`` never moves the average, so the saved weights are the start's although
    training moved the model's; a run without ``--ema`` cannot be resumed with it."""
    data = make_images(tmp_path / "imgs")
    start = tmp_path / "start.pt"
    save_checkpoint(start, random_model("xs"))
    common = ["--data", str(data), "--batch", "2", "--crop", "16", "--val-every", "2", "--holdout", "4",
              "--init", str(start), "--lr", "1e-2"]
    weights = {}
    for name, extra in (("average", ["--ema", "1"]), ("last", [])):
        assert train.main(common + ["--out", str(tmp_path / name), "--steps", "2"] + extra) == 0
        weights[name] = load_model(tmp_path / name / "model.pt", arch="xs")[0].state_dict()
    begin = load_model(start, arch="xs")[0].state_dict()
    assert all(torch.equal(begin[k], weights["average"][k]) for k in begin)
    assert not all(torch.equal(begin[k], weights["last"][k]) for k in begin)
    assert train.main(common + ["--out", str(tmp_path / "last"), "--steps", "3", "--resume", "--ema", "0.9"]) == 2
    assert "trained without --ema" in capsys.readouterr().err


def test_pixel_losses():
    a, b = torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.5)
    assert train.pixel_loss("l1", a, b).item() == pytest.approx(0.5)
    assert train.pixel_loss("mse", a, b).item() == pytest.approx(0.25)
    assert train.pixel_loss("charbonnier", a, b).item() == pytest.approx(0.5, abs=1e-5)


def test_train_refuses_bad_inputs(tmp_path, capsys):
    assert train.main(["--data", str(tmp_path), "--out", str(tmp_path / "r"), "--steps", "1"]) == 2
    assert "no images found" in capsys.readouterr().err
    (tmp_path / "t.pt").write_bytes(b"x")
    assert train.main(["--data", str(tmp_path), "--teacher", str(tmp_path / "t.pt"), "--steps", "1",
                       "--out", str(tmp_path / "r")]) == 2
    assert "not a loadable" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--data", str(tmp_path), "--color-aug", "1.5"])
    assert "not a share between 0 and 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--data", str(tmp_path), "--loss-margin", "-1"])
    assert "not a pixel count of 0 or more" in capsys.readouterr().err
