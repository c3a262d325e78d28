"""Checkpoints: ``{arch, scale, config, state_dict, metrics}``, loaded with weights_only=True.

``read_checkpoint`` is the one validation layer for them: the pickle is restricted to tensors
and plain containers, the config is checked field by field (``mossnet.core.arch.check_config``),
the top-level ``arch`` and ``scale`` must agree with it, and every weight must be a finite
float tensor, so that a NaN never turns into an all-black image with exit 0."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from mossnet.core.arch import MossNet, MossNetConfig, build_model
from mossnet.core.errors import UserError, one_line
from mossnet.core.image_io import atomic_write
from mossnet.core.paths import DEFAULT_CHECKPOINT

ARCH_PREFIX = "mossnet-"


class CheckpointError(UserError):
    """A one-line, user-facing problem with a checkpoint file."""


def _first_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {one_line(exc, 120)}"


def save_checkpoint(path: str | os.PathLike, model: MossNet, metrics: dict | None = None,
                    extra: dict | None = None) -> None:
    cfg = model.cfg
    payload = {"arch": ARCH_PREFIX + cfg.variant, "scale": cfg.scale, "config": cfg.to_dict(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "metrics": metrics or {}}
    payload.update(extra or {})
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def read_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, pickle of arbitrary objects, ...
        raise CheckpointError(f"{path}: not a loadable MossNet checkpoint "
                              f"({_first_line(exc)})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("arch"), str) \
            or not ckpt["arch"].startswith(ARCH_PREFIX) or "state_dict" not in ckpt or "config" not in ckpt:
        raise CheckpointError(f"{path}: not a MossNet checkpoint (no 'mossnet-*' arch, config "
                              f"and state_dict)")
    try:
        cfg = MossNetConfig.from_dict(ckpt["config"])
    except ValueError as exc:
        raise CheckpointError(f"{path}: invalid {one_line(exc, 200)}") from None
    if ckpt["arch"] != ARCH_PREFIX + cfg.variant:
        raise CheckpointError(f"{path}: arch {ckpt['arch'][:60]!r} contradicts its config's variant {cfg.variant!r}")
    if "scale" in ckpt and ckpt["scale"] != cfg.scale:
        raise CheckpointError(f"{path}: scale {str(ckpt['scale'])[:20]!r} contradicts its config's x{cfg.scale}")
    check_weights(path, ckpt["state_dict"])
    ckpt["scale"] = cfg.scale
    return ckpt


def check_weights(path, state_dict) -> None:
    """Every entry a finite floating-point tensor under a string name."""
    if not isinstance(state_dict, dict) or not state_dict:
        raise CheckpointError(f"{path}: state_dict is not a non-empty mapping of tensors")
    for name, value in state_dict.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: state_dict entry {str(name)[:60]!r} is not a named tensor")
        if not value.is_floating_point():
            raise CheckpointError(f"{path}: weight {name[:60]!r} is {value.dtype}, not floating point")
        if not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{path}: weight {name[:60]!r} holds NaN or infinite values "
                                  f"(a diverged or corrupt training run)")


def load_model(path: str | os.PathLike = DEFAULT_CHECKPOINT, *, arch: str | None = None,
               scale: int | None = None) -> tuple[MossNet, dict]:
    """Build the model a checkpoint describes; ``arch``/``scale`` demand a particular one."""
    ckpt = read_checkpoint(path)
    if arch is not None and ckpt["arch"] != ARCH_PREFIX + arch:
        raise CheckpointError(f"{path}: checkpoint is {ckpt['arch']}, expected {ARCH_PREFIX + arch}")
    if scale is not None and ckpt["scale"] != scale:
        raise CheckpointError(f"{path}: checkpoint is for x{ckpt['scale']}, expected x{scale}")
    try:
        model = build_model(MossNetConfig.from_dict(ckpt["config"]))
        model.load_state_dict(ckpt["state_dict"])
    except (TypeError, KeyError, RuntimeError, ValueError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"{path}: weights do not match {ckpt['arch']} "
                              f"({_first_line(exc)})") from None
    return model.eval(), ckpt
