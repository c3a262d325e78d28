"""Where the checkout's own files are (shipped weights, the example image) and where the shared
training and benchmark data sit when a checkout has them beside it (``../shared``; tests and
training only: the product never needs it)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO / "weights"
EXAMPLES = REPO / "examples"
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_BENCHMARKS = SHARED_DATA / "benchmarks"
SHARED_TRAIN = SHARED_DATA / "train"
