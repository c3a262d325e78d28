"""Checkpoints round-trip and every wrong file is a one-line CheckpointError."""
import pytest
import torch

from mossnet.core.checkpoint import CheckpointError, load_model, save_checkpoint

from conftest import random_model


def test_round_trip(tmp_path):
    model = random_model("xs")
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, metrics={"val_psnr": 1.0})
    loaded, ckpt = load_model(path, arch="xs", scale=4)
    assert ckpt["arch"] == "mossnet-xs" and ckpt["scale"] == 4 and ckpt["metrics"] == {"val_psnr": 1.0}
    x, th = torch.rand(1, 3, 20, 20), torch.rand(1, 3, 64, 64)
    assert torch.equal(loaded(x, th), model(x, th))
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp file left


def test_wrong_architecture_and_scale(tmp_path):
    path = tmp_path / "s.pt"
    save_checkpoint(path, random_model("s", scale=2))
    with pytest.raises(CheckpointError, match="is mossnet-s, expected mossnet-xs"):
        load_model(path, arch="xs")
    with pytest.raises(CheckpointError, match="x2, expected x4"):
        load_model(path, scale=4)


def test_weights_that_do_not_match_the_config(tmp_path):
    path = tmp_path / "bad.pt"
    model = random_model("xs")
    save_checkpoint(path, model)
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["channels"] = [16, 32]
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="weights do not match"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04broken zip"])
def test_corrupt_files(tmp_path, content):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a loadable MossNet checkpoint"):
        load_model(path)


def test_foreign_checkpoints(tmp_path):
    path = tmp_path / "f.pt"
    torch.save({"model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="not a MossNet checkpoint"):
        load_model(path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.pt")


def test_pickled_code_is_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    path = tmp_path / "evil.pt"
    torch.save({"arch": "mossnet-xs", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="not a loadable"):
        load_model(path)
