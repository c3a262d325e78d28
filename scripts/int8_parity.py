"""How exactly each int8 build reproduces the int8 PyTorch program, for one or more checkpoints:
``python scripts/int8_parity.py CKPT [CKPT ...]``.

Per checkpoint, in a scratch artifact store (``targets.store``): PTQ with the default recipe and
calibration, then the ExecuTorch int8 build's output PSNR against the int8 PyTorch program on
each image ``tests/test_targets.py`` rechecks (its bound: the registry's), and Core ML w8a8's
export-time parity with fp16 and with fp32 arithmetic (``tests/test_coreml.py``). The model card
uses it to compare candidate weights; it prints a Markdown table and keeps nothing."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mossnet.core.paths import EXAMPLES  # noqa: E402
from targets import registry  # noqa: E402
from targets.manifest import load_manifest  # noqa: E402
from targets.parity import parity_per_image, recheck_images  # noqa: E402
from targets.publish import export  # noqa: E402
from targets.store import ArtifactStore  # noqa: E402


def parities(ckpt: str, work: Path) -> tuple[dict[str, float], float, float]:
    store = ArtifactStore(work, eval_dirs=[str(EXAMPLES)], log=lambda msg: None)
    executorch, precision = registry.build("executorch:int8-ptq")
    up = executorch.open(store.ensure(executorch, precision, ckpt).path)
    reference = registry.get("pt2e").open(store.pipeline_dir(ckpt, "ptq"))
    et = parity_per_image((up.context_fn, up.patch_fn), (reference.context_fn, reference.patch_fn), up.tiling,
                          recheck_images())
    coreml = registry.get("coreml")
    coreml_db = [load_manifest(export(coreml, ckpt, "w8a8", work / f"cm_{c}", store.pipeline_dir(ckpt, "ptq"),
                                      compute=c), "coreml", ["w8a8"])["parity"]["output_psnr_db"]
                 for c in ("fp16", "fp32")]
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
        print(f"| {ckpt} | {' / '.join(f'{v:.2f}' for v in et.values())} | {min(et.values()):.2f} | {fp16:.2f} | "
              f"{fp32:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
