"""The one validation layer for quantized pipeline folders: quant.json field by field, and the
saved programs' own tensor shapes against the tiling and model config it records.

``load_pipeline`` calls these before anything is built from the folder, so that a quant.json
without ``program_sha256``, with ``patch: 7``, with a tiling that contradicts the programs,
or that is not JSON at all, is one line (``QuantizedPipelineError``) instead of a traceback.
Every check raises ``ValueError`` with the field at fault; the loader adds the path."""
from __future__ import annotations

import re

from mossnet.core.arch import MossNetConfig
from mossnet.core.tiling import TilingConfig

HEX64 = re.compile(r"^[0-9a-f]{64}$")
METHODS = ("ptq", "qat")


def check_meta(meta, version: int, programs: tuple[str, ...]) -> tuple[TilingConfig, MossNetConfig]:
    """quant.json's fields that the loader and the exporters use; (tiling, model config)."""
    if not isinstance(meta, dict):
        raise ValueError(f"not a quant.json object (a JSON {type(meta).__name__})")
    found = meta.get("format_version")
    if not isinstance(found, int) or isinstance(found, bool) or found != version:
        raise ValueError(f"format version {str(found)[:20]}, this toolkit reads {version}")
    if meta.get("method") not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {str(meta.get('method'))[:40]!r}")
    hashes = meta.get("program_sha256")
    if not isinstance(hashes, dict) or any(not isinstance(hashes.get(p), str) or not HEX64.match(hashes[p])
                                           for p in programs):
        raise ValueError(f"program_sha256 must give a SHA-256 for each of {', '.join(programs)}")
    if "checkpoint_sha256" in meta and not (isinstance(meta["checkpoint_sha256"], str)
                                            and HEX64.match(meta["checkpoint_sha256"])):
        raise ValueError("checkpoint_sha256 is not a SHA-256")
    try:
        tiling = TilingConfig.from_dict(meta.get("tiling"))
    except ValueError as exc:
        raise ValueError(f"bad tiling: {exc}") from None
    try:
        cfg = MossNetConfig.from_dict(meta.get("model_config"))
    except ValueError as exc:
        raise ValueError(f"bad model_config: {exc}") from None
    for field, have, want in (("scale", tiling.scale, cfg.scale), ("align", tiling.align, cfg.align),
                              ("thumb", tiling.thumb, cfg.thumb_size)):
        if have != want:
            raise ValueError(f"tiling {field} {have} contradicts the model config's {want}")
    return tiling, cfg


def _shapes(values) -> list[tuple]:
    return [tuple(int(d) for d in v.shape) for v in values]


def declared_shapes(exported) -> tuple[list[tuple], list[tuple]]:
    """(input shapes, output shapes) of a torch.export program's user-facing tensors."""
    nodes = {n.name: n for n in exported.graph.nodes}
    sig = exported.graph_signature
    inputs = _shapes(nodes[name].meta["val"] for name in sig.user_inputs)
    output = next(n for n in exported.graph.nodes if n.op == "output")
    outputs = _shapes(a.meta["val"] for a in output.args[0])
    return inputs, outputs


def check_program_inputs(name: str, exported, tiling: TilingConfig, cfg: MossNetConfig) -> None:
    """The program's own shapes must be those the tiling and model config imply: an edited
    tiling is refused here, not discovered as a shape error halfway through an image."""
    n, m = tiling.input_size, cfg.modulation_dim
    expected = {"context": ([(1, 3, tiling.thumb, tiling.thumb)], [(1, m, 1, 1)]),
                "upscale_patch": ([(1, 3, n, n), (1, m, 1, 1)], [(1, 3, tiling.output_size, tiling.output_size)])}
    try:
        found = declared_shapes(exported)
    except (KeyError, AttributeError, StopIteration, TypeError, IndexError) as exc:
        raise ValueError(f"program declares no readable tensor shapes ({type(exc).__name__})") from None
    if found != expected[name]:
        raise ValueError(f"the program's tensors are {found}, but quant.json's tiling and model config "
                         f"imply {expected[name]} (edited or mismatched quant.json)")
