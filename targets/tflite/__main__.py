"""``python -m targets.tflite export|upscale``: MossNet as a LiteRT .tflite (litert-torch)."""
import sys

from ..common import cli
from . import exporter, runner


def main(argv=None) -> int:
    return cli("tflite", exporter, runner, "int8", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
