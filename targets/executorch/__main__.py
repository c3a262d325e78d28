"""``python -m targets.executorch export|upscale``: MossNet as an ExecuTorch .pte (XNNPACK)."""
import sys

from ..common import cli
from . import exporter, runner


def main(argv=None) -> int:
    return cli("executorch", exporter, runner, "int8-ptq", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
