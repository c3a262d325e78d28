"""The evaluation protocol reproduces the field's bicubic numbers."""
import numpy as np
import pytest
import torch

from mossnet.core.bicubic import downscale_uint8
from mossnet.core.evaluation import bicubic_upscale, evaluate
from mossnet.core.metrics import psnr, rgb_to_y
from mossnet.eval import main

from conftest import BENCHMARKS, needs_benchmarks


@needs_benchmarks()
def test_bicubic_set5_is_28_43():
    results = evaluate({"bicubic": bicubic_upscale(4)}, [str(BENCHMARKS / "Set5")], 4, progress=False)
    assert results["bicubic"]["Set5"]["psnr"] == pytest.approx(28.43, abs=0.02)
    assert results["bicubic"]["Set5"]["ssim"] == pytest.approx(0.811, abs=0.002)


def test_matlab_bicubic_keeps_flat_images_flat():
    hr = torch.full((3, 40, 40), 123.0, dtype=torch.float64)
    assert torch.equal(downscale_uint8(hr, 4), torch.full((3, 10, 10), 123.0, dtype=torch.float64))


def test_y_channel_and_psnr():
    white = np.full((4, 4, 3), 255, dtype=np.uint8)
    assert rgb_to_y(white) == pytest.approx(np.full((4, 4), 235.0))
    assert psnr(np.zeros(4), np.full(4, 255.0)) == pytest.approx(0.0)


def test_eval_cli_errors(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["--data", str(tmp_path)]) == 2
    assert "no images found" in capsys.readouterr().err
