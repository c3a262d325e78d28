"""MossNet: a tiny context-aware x4 super-resolution U-Net, tiled for phones.

``mossnet.load(path)`` returns an ``Upscaler`` for a checkpoint or any exported artifact
(``mossnet.api``). The package is layered (``pyproject.toml``'s import contract):
``mossnet.core`` (model, tiling, pipeline, image I/O, metrics, checkpoints) imports nothing
above it; ``quantize`` builds on the core, ``targets`` (the runtimes) on both; ``mossnet.api``,
the command lines and ``mossnet.tools`` sit on top. The API is imported on first use, so
importing the core does not load the runtimes."""

__all__ = ["load", "Upscaler"]


def __getattr__(name: str):
    if name in __all__:
        from mossnet import api
        return getattr(api, name)
    raise AttributeError(f"module 'mossnet' has no attribute {name!r}")
