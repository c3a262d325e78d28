"""Train MossNet-XS with another U-Net shape, to compare shapes at the same budget:
``python scripts/xs_shape_probe.py SHAPE [mossnet.train arguments ...]``.

The shape replaces ``mossnet.core.arch.VARIANTS["xs"]`` for this process only; the checkpoint
records its config, so ``mossnet.eval`` and every exporter load it as they load the shipped XS.
``scripts/train_release.sh shape-probe`` runs the comparison in weights/README.md."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mossnet.core import arch  # noqa: E402

SHAPES = {
    # the shipped XS: 64,484 parameters, 3.26 GFLOPs, receptive-field radius 8
    "shipped": arch.VARIANTS["xs"],
    # one full-resolution block before the downsampling, three at half resolution, narrower:
    # 68,728 parameters, 3.33 GFLOPs, radius 11
    "deep-mid": dict(channels=(20, 32), enc_blocks=(1,), mid_blocks=3, dec_blocks=(1,)),
    # two blocks on each side of a two-block middle, narrower still:
    # 63,740 parameters, 3.18 GFLOPs, radius 12
    "deep-ends": dict(channels=(16, 36), enc_blocks=(2,), mid_blocks=2, dec_blocks=(2,)),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SHAPES:
        print(f"usage: xs_shape_probe.py SHAPE [mossnet.train arguments ...]; SHAPE one of "
              f"{', '.join(SHAPES)}", file=sys.stderr)
        return 2
    arch.VARIANTS["xs"] = SHAPES[argv[0]]
    from mossnet.train import main as train
    return train(["--arch", "xs", *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
