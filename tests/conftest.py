"""Shared fixtures: small models and images made in the test, shared/ data when present."""
import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch

from mossnet.core.arch import build_model, make_config

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
BENCHMARKS = SHARED / "benchmarks"
EVAL_DIR = str(BENCHMARKS / "Set5") if BENCHMARKS.is_dir() else str(ROOT / "examples")  # small, real


def random_model(variant: str = "xs", scale: int = 4, context: bool = True, seed: int = 0, up: str = "conv"):
    """An untrained model with every weight perturbed, so the context really modulates."""
    torch.manual_seed(seed)
    model = build_model(make_config(variant, scale, context, up=up)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.fixture(scope="session")
def xs_model():
    return random_model("xs")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def needs_benchmarks():
    return pytest.mark.skipif(not BENCHMARKS.is_dir(), reason="../shared/data/benchmarks not present")


REPORT_THREADS = 1  # torch threads of the pipeline's build, so that its report can be recomputed exactly


@contextlib.contextmanager
def torch_threads(n: int):
    """Float eager results depend on torch's thread count in the last bits (the order of a
    convolution's sums), and tests before this one may have set it (``targets.threads``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def quantized(tmp_path_factory):
    """A PTQ pipeline folder of the shipped weights, built once per test session by the
    artifact store the toolkit uses (``targets.store``), at ``REPORT_THREADS``."""
    from mossnet.core.checkpoint import DEFAULT_CHECKPOINT
    from targets.store import ArtifactStore
    store = ArtifactStore(tmp_path_factory.mktemp("store"), eval_dirs=[EVAL_DIR])
    with torch_threads(REPORT_THREADS):
        return store.ensure_pipeline(DEFAULT_CHECKPOINT, "ptq").path


def export(runtime: str, precision: str, out_dir, quantized=None, **options):
    """Export the shipped weights through the one publish step."""
    from mossnet.core.checkpoint import DEFAULT_CHECKPOINT
    from targets import registry
    from targets.publish import export as publish_export
    return publish_export(registry.get(runtime), DEFAULT_CHECKPOINT, precision, out_dir, quantized, **options)
