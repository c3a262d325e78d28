"""The build plan: where every quantized pipeline and artifact of a checkpoint lives, whether
what is there is still fresh, and building what is missing or stale.

One store under one root (default ``artifacts/``) serves ``python -m targets export-all``, the
benchmark, ``scripts/int8_parity.py`` and the test fixtures, so they agree on paths and on
staleness. A pipeline is stale when its checkpoint hash, patch, recipe version or toolkit
versions differ from now; an artifact also when its runtime's toolkit changed or its pipeline
was rebuilt. Every ``ensure`` says what it did (``Built.action``: fresh, built or rebuilt, with
the reason)."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from mossnet.core.hashing import sha256
from mossnet.core.tiling import DEFAULT_PATCH, PROGRAMS_VERSION

from .manifest import ManifestError, TilingError, load_manifest, manifest_path
from .runtime import Precision, Runtime


@dataclass
class Built:
    path: Path
    action: str  # "fresh", "built" or "rebuilt"
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.action}{f' ({self.reason})' if self.reason else ''}: {self.path}"


class ArtifactStore:
    def __init__(self, root: str | Path = "artifacts", calib: list[str] | None = None,
                 eval_dirs: list[str] | None = None, log=None):
        """``calib``/``eval_dirs``: what quantizing uses when a pipeline must be built."""
        self.root, self.calib, self.eval_dirs = Path(root), calib, eval_dirs
        self.log = log or (lambda msg: print(f"[store] {msg}", file=sys.stderr, flush=True))

    # -- paths --------------------------------------------------------------------------------
    def folder(self, patch: int | None) -> Path:
        return self.root if patch in (None, DEFAULT_PATCH) else self.root / f"patch{patch}"

    def pipeline_dir(self, ckpt: str | Path, method: str, patch: int | None = None) -> Path:
        from quantize.program import default_pipeline_dir
        return default_pipeline_dir(ckpt, method, self.root, patch)

    def artifact_dir(self, runtime: Runtime, patch: int | None = None) -> Path:
        return self.folder(patch) / runtime.name

    # -- staleness ----------------------------------------------------------------------------
    def pipeline_staleness(self, folder: Path, ckpt: str | Path, method: str, patch: int) -> str | None:
        """None when ``folder`` holds a fresh pipeline of this checkpoint, else why not."""
        from quantize.recipe import recipe_dict
        try:
            meta = json.loads((folder / "quant.json").read_text())
        except (OSError, ValueError):
            return "missing"
        if not isinstance(meta, dict):
            return "unreadable quant.json"
        recipe, now = meta.get("recipe") or {}, recipe_dict()
        checks = [(meta.get("checkpoint_sha256") == sha256(ckpt), "another checkpoint"),
                  (meta.get("method") == method, f"a {meta.get('method')} pipeline"),
                  ((meta.get("tiling") or {}).get("patch") == patch, "another patch"),
                  (meta.get("programs_version") == PROGRAMS_VERSION, "another program graph"),
                  (recipe.get("version") == now["version"], "another recipe version"),
                  (recipe.get("toolkit") == now["toolkit"], "other torch/torchao/executorch versions")]
        return next((why for ok, why in checks if not ok), None)

    def artifact_staleness(self, artifact: Path, runtime: Runtime, precision: Precision,
                           ckpt: str | Path, patch: int) -> str | None:
        try:
            m = load_manifest(artifact, runtime.name, [p.name for p in runtime.precisions])
        except (ManifestError, TilingError) as exc:
            return "missing" if not artifact.exists() else f"invalid ({exc})"
        recorded = {k: v for k, v in m.get("toolkit", {}).items() if k in runtime.packages}
        checks = [(m.get("precision") == precision.name, "another precision"),
                  (m["model"].get("checkpoint_sha256") == sha256(ckpt), "another checkpoint"),
                  (m["tiling"].get("patch") == patch, "another patch"),
                  (m["model"].get("programs_version") == PROGRAMS_VERSION, "another program graph"),
                  (recorded == {k: v for k, v in runtime.toolkit().items() if k in runtime.packages},
                   "other toolkit versions")]
        if precision.quantized_by:
            from quantize.program import pipeline_identity
            meta = json.loads((self.pipeline_dir(ckpt, precision.quantized_by, patch) / "quant.json").read_text())
            checks.append((m.get("quantized_pipeline") == pipeline_identity(meta),  # no need to load the programs
                           "its quantized pipeline changed"))
        return next((why for ok, why in checks if not ok), None)

    # -- building -----------------------------------------------------------------------------
    def ensure_pipeline(self, ckpt: str | Path, method: str, patch: int | None = None) -> Built:
        patch = patch or DEFAULT_PATCH
        folder = self.pipeline_dir(ckpt, method, patch)
        why = self.pipeline_staleness(folder, ckpt, method, patch)
        if why is None:
            return Built(folder, "fresh")
        self.log(f"quantizing ({method}, patch {patch}) -> {folder}" + ("" if why == "missing" else f": {why}"))
        if method == "ptq":
            from quantize.ptq import PTQOptions as Options
            from quantize.ptq import quantize_ptq as run
        else:
            from quantize.qat import QATOptions as Options
            from quantize.qat import quantize_qat as run
        run(Options(ckpt=str(ckpt), calib=self.calib, eval=self.eval_dirs, out=str(folder), patch=patch,
                    **({"data": self.calib} if method == "qat" and self.calib else {})))
        return Built(folder, "built" if why == "missing" else "rebuilt", "" if why == "missing" else why)

    def ensure(self, runtime: Runtime, precision: Precision, ckpt: str | Path, patch: int | None = None) -> Built:
        """The artifact of ``ckpt`` at this runtime/precision/patch, exported if missing or stale."""
        from .publish import export
        patch = patch or DEFAULT_PATCH
        if precision.quantized_by:
            self.ensure_pipeline(ckpt, precision.quantized_by, patch)
        found = self.find(runtime, precision, ckpt, patch)
        why = "missing" if found is None else self.artifact_staleness(found, runtime, precision, ckpt, patch)
        if why is None:
            return Built(found, "fresh")
        out = self.artifact_dir(runtime, patch)
        self.log(f"exporting {runtime.name} {precision.name} (patch {patch}) -> {out}"
                 + ("" if why == "missing" else f": {why}"))
        quantized = self.pipeline_dir(ckpt, precision.quantized_by, patch) if precision.quantized_by else None
        path = export(runtime, ckpt, precision.name, out, quantized, patch)
        return Built(path, "built" if why == "missing" else "rebuilt", "" if why == "missing" else why)

    def find(self, runtime: Runtime, precision: Precision, ckpt: str | Path, patch: int) -> Path | None:
        """The artifact this store would hold for these, if there is one (fresh or not)."""
        from mossnet.core.checkpoint import read_checkpoint

        from .publish import artifact_name
        cfg = read_checkpoint(ckpt)["config"]
        path = self.artifact_dir(runtime, patch) / artifact_name(cfg["variant"], cfg["scale"], precision.name,
                                                                 runtime.suffix)
        return path if path.exists() or manifest_path(path).exists() else None
