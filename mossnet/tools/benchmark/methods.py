"""What the benchmark measures, named by the runtime registry.

A method is a registry key ``RUNTIME:PRECISION`` (``executorch:int8-ptq``, ``tflite:int8``,
``pytorch:fp32`` ...), ``pytorch:fp32:whole`` (the float model on the whole image, untiled), or
one of the benchmark's own non-MossNet baselines (``BASELINES``). Runtimes and precisions come
from ``targets.registry``; this module lists none. Artifacts are located through
``targets.store.ArtifactStore`` (the build stage makes them first); heavy imports happen inside
``load``, so a child process imports only the runtime it measures."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from targets.runtime import Precision, Runtime

# key -> (label, timed, quality): no download, no trained weights of another SR model offline
BASELINES = {
    "bicubic-pil": ("bicubic (PIL)", True, True),
    "bicubic-matlab": ("bicubic (MATLAB-compatible, eval protocol)", False, True),
    "espcn": ("ESPCN architecture, random weights (speed only)", True, False),
}
WHOLE = ":whole"  # suffix: the float model on the whole image (no tiling)
REFERENCE = "pytorch:fp32"  # speed-ups and output parity are against this
HEADLINE = "executorch:int8-ptq"  # the build the targets are about


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    runtime: Runtime | None = None  # None: a baseline
    precision: Precision | None = None
    tiled: bool = False
    timed: bool = True
    quality: bool = True

    @property
    def exported(self) -> bool:
        return self.runtime is not None and self.runtime.exports

    @property
    def threads_by(self) -> Runtime | None:
        """The runtime whose thread count this method runs with (ESPCN runs in PyTorch)."""
        if self.key != "espcn":
            return self.runtime
        from targets import registry  # imports torch (mossnet.core.pipeline): not for PIL bicubic
        return registry.get("pytorch")


def method(key: str) -> Method:
    if key in BASELINES:
        label, timed, quality = BASELINES[key]
        return Method(key, label, timed=timed, quality=quality)
    from targets import registry
    whole = key.endswith(WHOLE)
    rt, precision = registry.build(key[:-len(WHOLE)] if whole else key)
    if whole and rt.name != "pytorch":
        raise ValueError(f"{key}: only pytorch runs the whole image")
    label = rt.label if precision.name in rt.label else f"{rt.label} {precision.name}"
    if rt.name == "pytorch":
        label += ", whole image" if whole else ", tiled"
    return Method(f"{rt.name}:{precision.name}{WHOLE if whole else ''}", label, rt, precision,
                  tiled=not whole, timed=rt.timed, quality=not whole)


def all_keys() -> list[str]:
    from targets import registry
    keys = list(BASELINES)
    for rt in registry.RUNTIMES.values():
        for p in rt.precisions:
            keys.append(f"{rt.name}:{p.name}")
            if rt.name == "pytorch":
                keys.append(f"{rt.name}:{p.name}{WHOLE}")
    return keys


def default_keys() -> list[str]:
    """Baselines, float PyTorch (tiled and whole) and every exportable build of the registry
    except those converted from the QAT pipeline (QAT trains for minutes: ask with --methods)."""
    from targets import registry
    return [*BASELINES, REFERENCE, REFERENCE + WHOLE,
            *(f"{rt.name}:{p.name}" for rt, p in registry.builds() if p.quantized_by != "qat")]


@dataclass
class Loaded:
    method: Method
    upscale: Callable[[np.ndarray], np.ndarray]  # LR uint8 HxWx3 -> SR uint8
    upscaler: object = None  # mossnet.core.upscaler.Upscaler for tiled methods
    path: Path | None = None

    @property
    def tiling(self):
        return self.upscaler.tiling if self.upscaler is not None else None

    def run(self, image: np.ndarray, out=None) -> np.ndarray:
        """The job; tiled methods write into ``out`` when given (``stream.PPMStripWriter``)."""
        return self.upscaler.upscale_rgb(image, out=out) if self.upscaler is not None else self.upscale(image)


def artifact_path(m: Method, ckpt: str | Path, root: str | Path, patch: int | None = None) -> Path:
    """Where the method's model is: the checkpoint, a quantized pipeline, or a store artifact."""
    from mossnet.core.tiling import DEFAULT_PATCH
    from targets.store import ArtifactStore
    store = ArtifactStore(root)
    if not m.exported:
        return Path(store.pipeline_dir(ckpt, m.precision.quantized_by, patch)) if m.precision.quantized_by \
            else Path(ckpt)
    found = store.find(m.runtime, m.precision, ckpt, patch or DEFAULT_PATCH)
    if found is None:
        raise FileNotFoundError(f"no {m.key} artifact of {ckpt} under {root} (patch {patch or DEFAULT_PATCH})")
    return found


def load(m: Method, ckpt: str | Path, root: str | Path = "artifacts", patch: int | None = None) -> Loaded:
    """Load one method (its artifact must exist: the build stage makes it)."""
    if m.runtime is None:
        from .baselines import BASELINE_LOADERS
        return Loaded(m, BASELINE_LOADERS[m.key](4))
    if not m.tiled:
        from mossnet.core.checkpoint import load_model
        from mossnet.core.pipeline import model_tiling, upscale_whole
        model, _ = load_model(ckpt)
        tiling = model_tiling(model, patch=patch)
        return Loaded(m, lambda lr: upscale_whole(model, lr, tiling), path=Path(ckpt))
    path = artifact_path(m, ckpt, root, patch)
    up = m.runtime.open(path, patch=patch if m.runtime.name == "pytorch" else None)
    return Loaded(m, up.upscale_rgb, up, path)


def import_runtime(m: Method) -> None:
    """What running the method needs, imported (the memory child's import baseline)."""
    rt = m.threads_by
    if rt is None:
        from PIL import Image  # noqa: F401
        return
    rt.import_runtime()
