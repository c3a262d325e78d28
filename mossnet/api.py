"""The Python API: load any MossNet model, upscale images.

    import mossnet
    up = mossnet.load("weights/mossnet_xs_x4.pt")        # or a .pte, .tflite, .coreml, int8 pipeline folder
    big = up.upscale(Image.open("photo.jpg"))            # PIL in, PIL out (numpy in, numpy out)
    up.upscale_file("photo.jpg", "photo_x4.png", progress=lambda done, total: ...)

``load`` asks the runtime registry (``targets.registry``) which runtime owns the path, checks
the artifact against its manifest and returns a ``mossnet.core.upscaler.Upscaler``."""
from __future__ import annotations

from pathlib import Path

from mossnet.core.paths import DEFAULT_CHECKPOINT
from mossnet.core.upscaler import Upscaler

__all__ = ["load", "Upscaler"]


def load(path: str | Path = DEFAULT_CHECKPOINT, *, patch: int | None = None, threads: int | None = None) -> Upscaler:
    """An ``Upscaler`` over a checkpoint (``.pt``), a quantized pipeline folder, or an exported
    ``.pte`` / ``.tflite`` / ``.coreml`` artifact. ``patch``: the tile core for a checkpoint
    (artifacts are fixed to theirs); ``threads``: CPU threads for the runtime (None: this
    machine's policy, ``targets.threads``)."""
    from targets.registry import open_upscaler
    return open_upscaler(path, patch=patch, threads=threads)
