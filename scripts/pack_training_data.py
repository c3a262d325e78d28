"""Pack training images for a machine that cannot see ``../shared`` (a lent GPU):
``python scripts/pack_training_data.py ../shared/data/train .devdata [--max-side 640]``.

Each image is shrunk exactly as ``mossnet.core.data.prepare_hr`` does for ``--max-side`` and stored
as lossless WebP under the same sub-folder and stem, then read back and compared pixel for
pixel. Training on the packed folders with the same ``--max-side`` therefore sees the same
images as training on the originals (the GPU stages of the shipped weights did), in about half
the bytes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mossnet.core.data import prepare_hr  # noqa: E402
from mossnet.core.image_io import ImageError, iter_image_files, load_image  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path, help="folder of image folders (e.g. ../shared/data/train)")
    p.add_argument("dst", type=Path, help="output folder (same sub-folders, .webp files)")
    p.add_argument("--max-side", type=int, default=640, help="as mossnet.train --max-side")
    args = p.parse_args(argv)
    if not args.src.is_dir():
        print(f"error: {args.src}: no such folder", file=sys.stderr)
        return 2
    files = iter_image_files(args.src)
    if not files:
        print(f"error: {args.src}: no images found", file=sys.stderr)
        return 2
    written, total = 0, 0
    for path in tqdm(files, desc="pack", disable=not sys.stderr.isatty()):
        try:
            hr = prepare_hr(load_image(path, max_pixels=200_000_000).rgb, args.max_side)
        except ImageError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        rgb = hr.permute(1, 2, 0).byte().numpy()
        out = args.dst / path.relative_to(args.src).with_suffix(".webp")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        Image.fromarray(rgb).save(tmp, format="WEBP", lossless=True, quality=50, method=4)
        if not np.array_equal(np.asarray(Image.open(tmp).convert("RGB")), rgb):
            tmp.unlink()
            print(f"error: {out}: WebP round trip is not lossless", file=sys.stderr)
            return 1
        tmp.replace(out)
        written, total = written + 1, total + out.stat().st_size
    print(f"wrote {written} images, {total / 2**20:.1f} MiB, to {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
