"""fp16 as a range: the parity of one Core ML artifact in each of the interpreter's bounding
modes (``mil_interpreter.MODES``), their spread, and the bound derived from them.

No mode is Core ML: each is one valid way to run the fp16 program. Their spread says how much
the choice between valid executions moves the figure, so a bound set from a single mode would
measure our interpreter rather than the artifact. ``derived_bound`` is the rule the fp16, w8
and w8a8 bounds in ``targets/coreml/runtime.py`` were set by."""
from __future__ import annotations

import math

MARGIN_DB = 1.0  # below the range, for what the three modes do not model (fp16 accumulation in a conv)


def per_image_range(modes: dict) -> dict[str, tuple[float, float]]:
    """{image: (lowest, highest) PSNR over the modes}; ``modes`` is a manifest's parity.modes."""
    images = next(iter(modes.values()))["images"]
    return {name: (min(m["images"][name] for m in modes.values()), max(m["images"][name] for m in modes.values()))
            for name in images}


def spread_db(modes: dict) -> float:
    """The widest disagreement between modes on one image (dB)."""
    return round(max(high - low for low, high in per_image_range(modes).values()), 2)


def derived_bound(modes: dict, margin: float = MARGIN_DB) -> float:
    """Lowest figure minus that image's spread minus ``margin``, rounded down to 0.5 dB."""
    low, high = min(per_image_range(modes).values())
    return math.floor((low - (high - low) - margin) * 2) / 2


def pairwise_db(outputs: dict) -> dict[str, float]:
    """{"a vs b": lowest PSNR between two modes' outputs over the images}; ``outputs`` is
    {mode: {image: float output}}."""
    import itertools

    from ..parity import output_psnr
    names = list(outputs)
    return {f"{a} vs {b}": round(min(output_psnr(outputs[a][i], outputs[b][i]) for i in outputs[a]), 2)
            for a, b in itertools.combinations(names, 2)}


def summary(manifest: dict) -> dict:
    """What the fp16 range of one published artifact is: per mode, spread, derived and set bound."""
    modes = manifest["parity"].get("modes") or {}
    if not modes:
        return {"precision": manifest["precision"], "modes": None}
    return {"precision": manifest["precision"], "reference": manifest["parity"]["reference"],
            "modes": {m: v["output_psnr_db"] for m, v in modes.items()}, "spread_db": spread_db(modes),
            "derived_bound_db": derived_bound(modes), "bound_db": manifest["parity"]["bound_db"]}


def measure(artifact, ckpt=None, quantized=None) -> dict:
    """The fp16 range of one artifact, measured now: each mode against the reference, every
    pair of modes against each other, the spread and the bound it implies."""
    from mossnet.core.tiling import upscale_tiled

    from ..parity import output_psnr
    from .mil_interpreter import MODES
    from .runtime import interpreter_programs
    from .verify import load_artifact, parity_tiles, reference
    artifact, manifest = load_artifact(artifact)
    images = parity_tiles(manifest, artifact)
    ref, tiling, precision = reference(manifest, artifact, ckpt, quantized)
    wanted = {name: upscale_tiled(im, *ref, tiling, as_float=True) for name, im in images}
    outputs = {mode: {name: upscale_tiled(im, *interpreter_programs(artifact, mode), tiling, as_float=True)
                      for name, im in images} for mode in MODES}
    modes = {}
    for mode, out in outputs.items():
        per_image = {name: round(output_psnr(out[name], wanted[name]), 2) for name in wanted}
        modes[mode] = {"output_psnr_db": min(per_image.values()), "images": per_image}
    return {"artifact": str(artifact), "precision": precision.name, "reference": manifest["parity"]["reference"],
            "modes": modes, "between_modes_db": pairwise_db(outputs), "spread_db": spread_db(modes),
            "derived_bound_db": derived_bound(modes), "bound_db": precision.parity_bound_db}


def default_artifacts() -> list:
    """The store's fp16-compute Core ML builds of the shipped checkpoint (artifacts/coreml)."""
    from mossnet.core.checkpoint import DEFAULT_CHECKPOINT
    from mossnet.core.tiling import DEFAULT_PATCH

    from .. import registry
    from ..store import ArtifactStore
    rt, store = registry.get("coreml"), ArtifactStore()
    found = [store.find(rt, p, DEFAULT_CHECKPOINT, DEFAULT_PATCH) for p in rt.precisions if p.name != "fp32"]
    return [path for path in found if path is not None]


def markdown(rows: list[dict]) -> str:
    """The README's table: per build, each mode against its reference, the modes against each
    other, the bound the rule derives and the one set (lowest PSNR over the parity images)."""
    from .mil_interpreter import MODES
    lines = ["| build | vs | " + " | ".join(MODES) + " | modes vs each other | derived bound | bound |",
             "|---|---|" + "---|" * len(MODES) + "---|---|---|"]
    for r in rows:
        lines.append(f"| {r['precision']} | {r['reference']} | "
                     + " | ".join(f"{r['modes'][m]['output_psnr_db']:.2f} dB" for m in MODES)
                     + f" | >= {min(r['between_modes_db'].values()):.2f} dB | {r['derived_bound_db']} dB"
                     f" | {r['bound_db']} dB |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m targets.coreml fp16-range [ARTIFACT ...] [--json OUT]``."""
    import argparse
    import json
    from pathlib import Path

    from mossnet.core.atomic import atomic_write
    from mossnet.core.errors import run_cli
    p = argparse.ArgumentParser(prog="python -m targets.coreml fp16-range", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("artifacts", nargs="*", metavar="ARTIFACT", help="default: artifacts/coreml's fp16, w8, w8a8")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the figures as JSON")
    args = p.parse_args(argv)

    def body() -> int:
        rows = [measure(a) for a in (args.artifacts or default_artifacts())]
        print(markdown(rows))
        if args.json:
            atomic_write(args.json, lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=1) + "\n"))
        return 0
    return run_cli(body)
