"""``python -m targets.coreml export|upscale``: MossNet as Core ML mlprograms (iOS 17+)."""
import sys

from ..common import cli
from . import exporter, runner


def main(argv=None) -> int:
    return cli("coreml", exporter, runner, "fp16", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
