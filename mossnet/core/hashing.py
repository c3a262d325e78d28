"""SHA-256 of a file or of a folder (an ``.mlpackage``, a quantized pipeline), the one hash
that checkpoints, quantized pipelines and artifact manifests are identified by."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, or of every file below a folder in sorted order, each preceded
    by its relative path (so a rename changes the hash too)."""
    path, h = Path(path), hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
