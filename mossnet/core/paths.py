"""Where the checkout's own files are (shipped weights, the example image) and where the shared
training and benchmark data sit when a checkout has them beside it (``../shared``; tests and
training only: the product never needs it)."""
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO / "weights"
DEFAULT_CHECKPOINT = WEIGHTS / "mossnet_xs_x4.pt"  # the shipped MossNet-XS x4
EXAMPLES = REPO / "examples"
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_BENCHMARKS = SHARED_DATA / "benchmarks"
SHARED_TRAIN = SHARED_DATA / "train"


def cache_root() -> Path:
    """This machine's cache (probed artifacts, the measured thread policy, toolchains):
    ``$MOSSNET_CACHE``, else ``$XDG_CACHE_HOME/mossnet``, else ``~/.cache/mossnet``."""
    root = os.environ.get("MOSSNET_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mossnet"
    return Path(root)
