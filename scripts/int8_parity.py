"""How exactly each int8 build reproduces the int8 PyTorch program, for one or more checkpoints:
``python scripts/int8_parity.py CKPT [CKPT ...]``.

Per checkpoint: PTQ with the default recipe and calibration (``quantize.ptq``), then the
ExecuTorch int8 build's output PSNR against the int8 PyTorch program on each image
``tests/test_targets.py`` rechecks (bound 45 dB), and Core ML w8a8's export-time parity with
fp16 and with fp32 arithmetic (bounds 42 and 45 dB, ``tests/test_coreml.py``). The model card
uses it to compare candidate weights; it prints a Markdown table and keeps nothing."""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mossnet.checkpoint import load_model  # noqa: E402
from mossnet.pipeline import model_tiling  # noqa: E402


def parities(ckpt: str, work: Path) -> tuple[list[float], float, float]:
    from quantize import ptq
    from quantize.program import load_pipeline
    from targets.common import measure_parity, recheck_images
    from targets.coreml import exporter as coreml
    from targets.executorch import exporter as executorch, runner
    from targets.manifest import load_manifest

    quantized = work / "ptq"
    with contextlib.redirect_stdout(io.StringIO()):
        if ptq.main([ckpt, "--eval", "examples", "--out", str(quantized)]) != 0:
            raise SystemExit(f"error: {ckpt}: PTQ failed")
    tiling = model_tiling(load_model(ckpt)[0])
    programs, _ = runner.load(executorch.export(ckpt, "int8-ptq", work / "et", str(quantized)))
    reference = load_pipeline(quantized).programs()
    et = [measure_parity(programs, reference, tiling, [im]) for im in recheck_images()]
    coreml_db = [load_manifest(coreml.export(ckpt, "w8a8", work / f"cm_{c}", str(quantized), compute=c),
                               "coreml")["parity"]["output_psnr_db"] for c in ("fp16", "fp32")]
    return et, *coreml_db


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/int8_parity.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ckpts", nargs="+", metavar="CKPT", help="float MossNet checkpoints")
    args = p.parse_args(argv)
    print("| checkpoint | ExecuTorch int8, per image (dB) | lowest | Core ML w8a8 fp16 | Core ML w8a8 fp32 |")
    print("|---|---|---|---|---|")
    for ckpt in args.ckpts:
        with tempfile.TemporaryDirectory() as work:
            et, fp16, fp32 = parities(ckpt, Path(work))
        print(f"| {ckpt} | {' / '.join(f'{v:.2f}' for v in et)} | {min(et):.2f} | {fp16:.2f} | {fp32:.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
